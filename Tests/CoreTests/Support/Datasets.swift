import Foundation
@testable import Core

/// Small MovieLens-format datasets written by hand, so each test can break one thing.
struct TinyDataset {
    var movies = """
        movieId,title,genres
        1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
        2,"Good, the Bad and the Ugly, The (1966)",Action|Western
        3,\"\"\"Great\"\" Escape, The (1963)\",Action|Adventure|Drama|War
        4,Hyena Road,(no genres listed)
        5,Fawlty Towers (1975-1979),Comedy

        """
    var ratings = """
        userId,movieId,rating,timestamp
        1,1,4.0,964982703
        1,2,3.5,964981247
        1,3,5.0,964982224
        2,1,0.5,964983815
        2,4,2.0,964982931
        3,2,4.5,964982400
        3,5,3.0,964980868

        """
    var tags: String? = """
        userId,movieId,tag,timestamp
        2,1,pixar,1445714994
        2,1,pixar,1445714996
        7,2,"spaghetti western, classic",1445715000

        """
    var links: String? = """
        movieId,imdbId,tmdbId
        1,0114709,862
        2,0060196,429
        3,0057115,5925
        4,4181270,
        5,0072500,2000

        """
    var genomeTags: String? = nil
    var genomeScores: String? = nil

    func write(to directory: String = TestServices.temporaryDirectory()) throws -> String {
        func put(_ name: String, _ text: String?) throws {
            guard let text else { return }
            try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name))
        }
        try put("movies.csv", movies)
        try put("ratings.csv", ratings)
        try put("tags.csv", tags)
        try put("links.csv", links)
        try put("genome-tags.csv", genomeTags)
        try put("genome-scores.csv", genomeScores)
        return directory
    }
}

/// A synthesized dataset on disk.
func synthesized(ratings: Int, seed: UInt64 = 1, genome: Bool = false, movies: Int? = nil) throws -> (String, SynthesizeResult) {
    // Synthesize writes only into a directory it makes itself.
    let directory = TestServices.temporaryDirectory() + "/dataset"
    let result = try DatasetSynthesizer.run(SynthesizeRequest(output: directory, ratings: ratings, movies: movies, seed: seed, genome: genome), storage: nil)
    return (directory, result)
}

/// Counts of every reference table, to check that a failed import changed nothing.
func tableCounts(_ database: Database) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for table in ["users", "movies", "genres", "movie_genres", "ratings", "tags", "movie_tags", "links", "genome_tags", "genome_scores"] {
        counts[table] = try database.execute("SELECT count(*) FROM \(table)").int(0, 0)
    }
    counts["rating_totals"] = try database.execute("SELECT count FROM rating_totals").int(0, 0)
    return counts
}
