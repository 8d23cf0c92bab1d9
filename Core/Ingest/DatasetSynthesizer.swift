#if canImport(Glibc)
import Glibc
#endif

/// `{"action": "synthesize", ...}`: how big a MovieLens-format dataset to write, and where.
public struct SynthesizeRequest: Codable, Sendable, StrictRequest {
    enum CodingKeys: String, CodingKey, CaseIterable { case output, ratings, users, movies, seed, tags, links, genome }
    public static let accepted = AcceptedKeys(CodingKeys.self)

    /// A local directory (created if missing) or `s3://bucket/prefix/`.
    public var output: String
    public var ratings: Int
    public var users: Int?
    public var movies: Int?
    public var seed: UInt64?
    public var tags: Bool?
    public var links: Bool?
    public var genome: Bool?

    public init(output: String, ratings: Int, users: Int? = nil, movies: Int? = nil, seed: UInt64? = nil,
                tags: Bool? = nil, links: Bool? = nil, genome: Bool? = nil) {
        self.output = output; self.ratings = ratings; self.users = users; self.movies = movies; self.seed = seed
        self.tags = tags; self.links = links; self.genome = genome
    }
}

public struct SynthesizeResult: Codable, Sendable {
    public var output: String
    public var seed: UInt64
    public var users: Int
    public var movies: Int
    public var ratings: Int
    public var tags: Int
    public var files: [String: Int64]
    public var durationSeconds: Double

    enum CodingKeys: String, CodingKey {
        case output, seed, users, movies, ratings, tags, files
        case durationSeconds = "duration_seconds"
    }
}

/// Writes a MovieLens-format dataset with the structure real ones have: long-tailed user
/// activity (every user rates at least 20 movies, as in MovieLens), Zipf-like item popularity,
/// ratings from latent factors plus biases plus noise on the half-star grid with MovieLens's
/// preference for whole stars, epoch-second timestamps, titles with commas and quotes.
/// Deterministic for a seed.
public struct DatasetSynthesizer {
    public static let maximumRatings = 100_000_000
    static let genres = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
                         "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
                         "Thriller", "War", "Western"]
    static let words = ["Silent", "River", "Night", "Summer", "Last", "Stranger", "Garden", "Empire", "Shadow", "Love",
                        "City", "Return", "Secret", "Storm", "King", "Island", "Dream", "Journey", "Fire", "Winter",
                        "Broken", "Glass", "Midnight", "Road", "Ghost", "Little", "Black", "Golden", "Wild", "Dark",
                        "Heart", "Star", "Song", "War", "Blue", "House", "Lost", "Paradise", "Crime", "Iron"]
    static let tagWords = ["atmospheric", "twist ending", "funny", "classic", "visually appealing", "dark comedy",
                           "based on a book", "sci-fi", "thought-provoking", "quirky", "violence", "romance",
                           "great soundtrack", "slow", "overrated", "cult film", "surreal", "dystopia", "inspiring", "nonlinear"]

    let request: SynthesizeRequest

    public init(_ request: SynthesizeRequest) { self.request = request }

    public static func run(_ request: SynthesizeRequest, storage: (() throws(FunctionError) -> S3Client)?) throws(FunctionError) -> SynthesizeResult {
        guard request.ratings >= 1, request.ratings <= maximumRatings else {
            throw FunctionError.invalidInput("ratings must be between 1 and \(maximumRatings), got \(request.ratings)")
        }
        if let users = request.users, users < 1 { throw FunctionError.invalidInput("users must be positive") }
        if let movies = request.movies, movies < 1 { throw FunctionError.invalidInput("movies must be positive") }
        guard request.output.hasPrefix("s3://") else {
            let directory = try FileRoots.configured.newDirectory(request.output, field: "output")
            var result = try DatasetSynthesizer(request).write(to: directory)
            result.output = request.output
            return result
        }
        guard let storage else { throw FunctionError.dependencyDown("no artifact store is configured to write \(request.output)") }
        let client = try storage()
        var (bucket, prefix) = try S3Client.parse(url: request.output)
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        var template = Array("/tmp/movierec-synth-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FunctionError.internal("cannot make a temporary directory") }
        let directory = String(cString: made)
        defer {
            for file in DatasetFile.allCases { unlink(directory + "/" + file.rawValue) }
            rmdir(directory)
        }
        var result = try DatasetSynthesizer(request).write(to: directory)
        for name in result.files.keys.sorted() {
            try client.putFile(directory + "/" + name, bucket: bucket, key: prefix + name, contentType: "text/csv")
        }
        result.output = request.output
        return result
    }

    func write(to directory: String) throws(FunctionError) -> SynthesizeResult {
        let started = monotonicSeconds()
        let seed = request.seed ?? 42
        var random = SeededGenerator(seed: seed)
        let ratingTotal = request.ratings
        // Shapes of MovieLens-20M (27,278 movies, 138,493 users for 20M ratings), scaled.
        let scale = Double(ratingTotal) / 20_000_000
        let movieCount = request.movies ?? max(50, Int(27_278 * _pow(scale, 0.6)))
        // Nobody rates more than two thirds of the catalogue, so small catalogues need more users.
        let cap = max(1, movieCount * 2 / 3)
        let userCount = request.users ?? max(10, ratingTotal / 144, (ratingTotal + cap - 1) / cap)
        guard userCount * cap >= ratingTotal || request.users == nil else {
            throw FunctionError.invalidInput("\(userCount) users cannot give \(ratingTotal) ratings to \(movieCount) movies; ask for more users or movies")
        }
        let minimumPerUser = min(20, max(1, ratingTotal / userCount), movieCount)

        // Movies: sparse increasing ids, popularity by a shuffled Zipf rank, a latent profile each.
        let rank = 8
        var movieIDs = [Int32](repeating: 0, count: movieCount)
        var next: Int32 = 1
        for index in 0..<movieCount {
            movieIDs[index] = next
            next += Int32(1 + (random.below(10) == 0 ? random.below(20) : 0))
        }
        // Popular movies are more often the older (lower) ids, but not always.
        var popularityOrder = Array(0..<movieCount)
        for index in stride(from: movieCount - 1, to: 0, by: -1) {
            let window = max(1, movieCount / 5)
            let other = max(0, index - random.below(window))
            popularityOrder.swapAt(index, other)
        }
        var weights = [Double](repeating: 0, count: movieCount)
        for (position, movie) in popularityOrder.enumerated() { weights[movie] = 1 / _pow(Double(position) + 8, 1.05) }
        var cumulative = [Double](repeating: 0, count: movieCount)
        var running = 0.0
        for index in 0..<movieCount { running += weights[index]; cumulative[index] = running }
        let totalWeight = running
        var movieBias = [Float](repeating: 0, count: movieCount)
        var movieFactors = [Float](repeating: 0, count: movieCount * rank)
        for index in 0..<movieCount {
            movieBias[index] = Float(random.normal() * 0.45 + weights[index] / (weights.max() ?? 1) * 0.3)
            for f in 0..<rank { movieFactors[index * rank + f] = Float(random.normal() * 0.4) }
        }

        var files: [String: Int64] = [:]
        try writeMovies(directory, ids: movieIDs, random: &random, files: &files)

        // User activity: at least `minimumPerUser`, the rest spread log-normally. A spread of
        // 1.35 gives ML-20M's shape at its size: median about 70 ratings, 90th percentile
        // about 300, the heaviest users in the thousands.
        var activity = [Double](repeating: 0, count: userCount)
        for index in 0..<userCount { activity[index] = _exp(random.normal() * 1.35) }
        let activitySum = activity.reduce(0, +)
        let spare = max(0, ratingTotal - minimumPerUser * userCount)
        var counts = activity.map { min(max(cap, minimumPerUser), minimumPerUser + Int(Double(spare) * $0 / activitySum)) }
        var assigned = counts.reduce(0, +)
        var cursor = 0
        var stalled = 0
        while assigned != ratingTotal && stalled < userCount {  // settle rounding so the total is exact
            let index = cursor % userCount
            if assigned < ratingTotal, counts[index] < max(cap, minimumPerUser) { counts[index] += 1; assigned += 1; stalled = 0 }
            else if assigned > ratingTotal, counts[index] > minimumPerUser { counts[index] -= 1; assigned -= 1; stalled = 0 }
            else { stalled += 1 }
            cursor += 1
        }

        var ratingsFile = try BufferedFile(path: directory + "/ratings.csv")
        try ratingsFile.write("userId,movieId,rating,timestamp\n")
        var chosen = IDSet()
        var picks: [Int] = []
        var userFactors = [Float](repeating: 0, count: rank)
        let firstTimestamp = 789_652_009.0, lastTimestamp = 1_427_784_002.0
        var written = 0
        for user in 0..<userCount {
            let want = counts[user]
            picks.removeAll(keepingCapacity: true)
            var attempts = 0
            while picks.count < want {
                var movie: Int
                if attempts < want * 20 {
                    let target = random.unit() * totalWeight
                    var low = 0, high = movieCount - 1
                    while low < high {
                        let middle = (low + high) / 2
                        if cumulative[middle] < target { low = middle + 1 } else { high = middle }
                    }
                    movie = low
                } else {
                    movie = random.below(movieCount)  // heavy users exhaust the head: fill from the tail
                }
                attempts += 1
                if chosen.insert(Int32(movie)) { picks.append(movie) }
            }
            picks.sort()
            let userBias = random.normal() * 0.4
            for f in 0..<rank { userFactors[f] = Float(random.normal() * 0.4) }
            let span = _exp(random.normal() * 2 + 11)  // seconds between first and last rating: hours to years
            let start = firstTimestamp + random.unit() * max(1, lastTimestamp - firstTimestamp - span)
            for movie in picks {
                chosen.remove(Int32(movie))
                var dot: Float = 0
                for f in 0..<rank { dot += userFactors[f] * movieFactors[movie * rank + f] }
                let raw = 3.53 + userBias + Double(movieBias[movie]) + Double(dot) * 2.2 + random.normal() * 0.75
                var halves = Int((raw * 2).rounded())
                if halves % 2 == 1 && random.unit() < 0.45 { halves += raw * 2 > Double(halves) ? 1 : -1 }  // whole stars are commoner
                halves = min(10, max(1, halves))
                try ratingsFile.integer(user + 1)
                try ratingsFile.byte(UInt8(ascii: ","))
                try ratingsFile.integer(Int(movieIDs[movie]))
                try ratingsFile.byte(UInt8(ascii: ","))
                try ratingsFile.integer(halves / 2)
                try ratingsFile.byte(UInt8(ascii: "."))
                try ratingsFile.byte(halves % 2 == 1 ? UInt8(ascii: "5") : UInt8(ascii: "0"))
                try ratingsFile.byte(UInt8(ascii: ","))
                try ratingsFile.integer(Int(start + random.unit() * span))
                try ratingsFile.byte(UInt8(ascii: "\n"))
            }
            written += picks.count
        }
        try ratingsFile.flush()
        files["ratings.csv"] = ratingsFile.bytesWritten

        var tagCount = 0
        if request.tags ?? true {
            tagCount = max(1, ratingTotal / 43)
            var file = try BufferedFile(path: directory + "/tags.csv")
            try file.write("userId,movieId,tag,timestamp\n")
            for _ in 0..<tagCount {
                try file.integer(1 + random.below(userCount))
                try file.byte(UInt8(ascii: ","))
                try file.integer(Int(movieIDs[random.below(movieCount)]))
                try file.byte(UInt8(ascii: ","))
                let word = Self.tagWords[random.below(Self.tagWords.count)]
                try file.csvField(random.below(25) == 0 ? "\(word), really" : word)
                try file.byte(UInt8(ascii: ","))
                try file.integer(Int(firstTimestamp + random.unit() * (lastTimestamp - firstTimestamp)))
                try file.byte(UInt8(ascii: "\n"))
            }
            try file.flush()
            files["tags.csv"] = file.bytesWritten
        }
        if request.links ?? true {
            var file = try BufferedFile(path: directory + "/links.csv")
            try file.write("movieId,imdbId,tmdbId\n")
            for (index, id) in movieIDs.enumerated() {
                try file.integer(Int(id))
                try file.byte(UInt8(ascii: ","))
                let imdb = String(100_000 + index * 37 + random.below(30))
                try file.write(String(repeating: "0", count: max(0, 7 - imdb.count)) + imdb)  // leading zeros, as IMDb ids have
                try file.byte(UInt8(ascii: ","))
                if random.below(100) != 0 { try file.integer(800 + index * 13) }
                try file.byte(UInt8(ascii: "\n"))
            }
            try file.flush()
            files["links.csv"] = file.bytesWritten
        }
        if request.genome ?? false {
            let genomeTags = 1128
            var tagsFile = try BufferedFile(path: directory + "/genome-tags.csv")
            try tagsFile.write("tagId,tag\n")
            for tag in 1...genomeTags {
                try tagsFile.integer(tag)
                try tagsFile.byte(UInt8(ascii: ","))
                try tagsFile.csvField("\(Self.tagWords[tag % Self.tagWords.count]) \(tag)")
                try tagsFile.byte(UInt8(ascii: "\n"))
            }
            try tagsFile.flush()
            files["genome-tags.csv"] = tagsFile.bytesWritten
            var scores = try BufferedFile(path: directory + "/genome-scores.csv")
            try scores.write("movieId,tagId,relevance\n")
            let covered = popularityOrder.prefix(max(1, movieCount * 38 / 100)).sorted()
            for movie in covered {
                for tag in 1...genomeTags {
                    try scores.integer(Int(movieIDs[movie]))
                    try scores.byte(UInt8(ascii: ","))
                    try scores.integer(tag)
                    try scores.byte(UInt8(ascii: ","))
                    try scores.fixed(min(1, _pow(random.unit(), 3)), decimals: 5)
                    try scores.byte(UInt8(ascii: "\n"))
                }
            }
            try scores.flush()
            files["genome-scores.csv"] = scores.bytesWritten
        }
        files["movies.csv"] = files["movies.csv"] ?? 0
        return SynthesizeResult(output: directory, seed: seed, users: userCount, movies: movieCount, ratings: written,
                                tags: tagCount, files: files, durationSeconds: monotonicSeconds() - started)
    }

    private func writeMovies(_ directory: String, ids: [Int32], random: inout SeededGenerator, files: inout [String: Int64]) throws(FunctionError) {
        var file = try BufferedFile(path: directory + "/movies.csv")
        try file.write("movieId,title,genres\n")
        for id in ids {
            let first = Self.words[random.below(Self.words.count)], second = Self.words[random.below(Self.words.count)]
            let year = 1920 + Int(95 * random.unit().squareRoot())
            var title: String
            switch random.below(12) {
            case 0: title = "\(first), \(second) and the \(Self.words[random.below(Self.words.count)]), The"  // MovieLens moves articles to the end
            case 1: title = "\"\(first)\" \(second)"
            case 2: title = "\(first) \(second) \(id)"
            default: title = "The \(first) \(second)"
            }
            title += " (\(year))"
            var genres: [String] = []
            if random.below(60) != 0 {
                for _ in 0..<(1 + random.below(3)) {
                    let genre = Self.genres[random.below(Self.genres.count)]
                    if !genres.contains(genre) { genres.append(genre) }
                }
            }
            try file.integer(Int(id))
            try file.byte(UInt8(ascii: ","))
            try file.csvField(title)
            try file.byte(UInt8(ascii: ","))
            try file.csvField(genres.isEmpty ? "(no genres listed)" : genres.joined(separator: "|"))
            try file.byte(UInt8(ascii: "\n"))
        }
        try file.flush()
        files["movies.csv"] = file.bytesWritten
    }
}
