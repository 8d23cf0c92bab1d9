/// The ingest function's small actions: a user's own ratings, synthetic ratings, random samples, totals.
public enum Ratings {
    // MARK: rate

    public struct RateRequest: Codable, Sendable, StrictRequest {
        public var userId: Int
        public var ratings: [Entry]
        public struct Entry: Codable, Sendable {
            public var movieId: Int
            public var rating: Double
            enum CodingKeys: String, CodingKey, CaseIterable { case movieId = "movie_id", rating }
        }
        enum CodingKeys: String, CodingKey, CaseIterable { case userId = "user_id", ratings }
        public static let accepted = AcceptedKeys(CodingKeys.self, nested: ["ratings": AcceptedKeys(Entry.CodingKeys.self)])
    }

    public struct RateResult: Codable, Sendable {
        public var userId: Int
        public var inserted: Int
        public var updated: Int
        public var newUser: Bool
        public var timestamp: Int64
        enum CodingKeys: String, CodingKey { case userId = "user_id", inserted, updated, newUser = "new_user", timestamp }
    }

    public static let maximumRatingsPerRequest = 1000

    /// Records (or updates) a user's ratings; a user seen for the first time is created.
    public static func rate(_ request: RateRequest, database: Database, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(FunctionError) -> RateResult {
        guard request.userId > 0, request.userId < Int(IDSet.maximumID) else {
            throw FunctionError.invalidInput("user_id must be a positive integer below \(IDSet.maximumID), got \(request.userId)")
        }
        guard !request.ratings.isEmpty else { throw FunctionError.invalidInput("ratings must hold at least one {movie_id, rating}") }
        guard request.ratings.count <= maximumRatingsPerRequest else {
            throw FunctionError.tooLarge("at most \(maximumRatingsPerRequest) ratings per request, got \(request.ratings.count)")
        }
        var seen = Set<Int>()
        for (index, entry) in request.ratings.enumerated() {
            guard entry.movieId > 0, entry.movieId < Int(IDSet.maximumID) else {
                throw FunctionError.invalidInput("ratings[\(index)].movie_id must be a positive integer, got \(entry.movieId)")
            }
            guard entry.rating >= 0.5, entry.rating <= 5, (entry.rating * 2).rounded() == entry.rating * 2 else {
                throw FunctionError.invalidInput("ratings[\(index)].rating must be on the half-star scale 0.5..5, got \(entry.rating)")
            }
            guard seen.insert(entry.movieId).inserted else {
                throw FunctionError.invalidInput("ratings[\(index)]: movie \(entry.movieId) appears twice in the request")
            }
        }
        let movies = SQLArray(request.ratings.map(\.movieId))
        let known = try database.execute("SELECT movie_id FROM movies WHERE movie_id = ANY($1::int[])", [movies])
        if known.count < request.ratings.count {
            let found = Set((0..<known.count).compactMap { known.int($0, 0) })
            let missing = request.ratings.map(\.movieId).filter { !found.contains($0) }
            throw FunctionError.unprocessable("unknown movie_id: \(missing.prefix(20).map(String.init).joined(separator: ", "))",
                                              details: ["missing_movie_ids": .array(missing.map { .number(Double($0)) })])
        }
        return try database.transaction { () throws(FunctionError) -> RateResult in
            let newUser = try database.execute("INSERT INTO users (user_id) VALUES ($1) ON CONFLICT DO NOTHING", [request.userId]).affectedRows == 1
            let result = try database.execute("""
                INSERT INTO ratings (user_id, movie_id, rating, "timestamp")
                SELECT $1, movie, rating, $4 FROM unnest($2::int[], $3::real[]) AS t(movie, rating)
                ON CONFLICT (user_id, movie_id) DO UPDATE SET rating = EXCLUDED.rating, "timestamp" = EXCLUDED."timestamp"
                RETURNING (xmax = 0) AS inserted
                """, [request.userId, movies, SQLArray(request.ratings.map(\.rating)), now])
            let inserted = (0..<result.count).filter { result.bool($0, 0) == true }.count
            return RateResult(userId: request.userId, inserted: inserted, updated: result.count - inserted, newUser: newUser, timestamp: now)
        }
    }

    // MARK: generate

    public struct GenerateResult: Codable, Sendable {
        public var requested: Int
        public var inserted: Int
        public var shift: Double
        public var timestamp: Int64
        public var meanRating: Double?
        enum CodingKeys: String, CodingKey { case requested, inserted, shift, timestamp, meanRating = "mean_rating" }
    }

    public static let maximumGenerateBatch = 100_000

    /// Adds synthetic ratings that follow the data already there: users drawn in proportion to
    /// their activity, movies in proportion to their popularity, each rating one that movie
    /// really received (so the rating distribution is kept), moved by `shift` stars to inject drift.
    /// Timestamps are spread over the `spreadDays` days before `now` (the nightly job's day by default).
    public static func generate(batchSize: Int, shift: Double, seed: UInt64?, database: Database, spreadDays: Int = 1,
                                now: Int64 = Int64(Date().timeIntervalSince1970)) throws(FunctionError) -> GenerateResult {
        guard (1...365).contains(spreadDays) else { throw FunctionError.invalidInput("spread_days must be between 1 and 365, got \(spreadDays)") }
        guard (1...maximumGenerateBatch).contains(batchSize) else {
            throw FunctionError.invalidInput("batch_size must be between 1 and \(maximumGenerateBatch), got \(batchSize)")
        }
        guard shift.isFinite, abs(shift) <= 4.5 else { throw FunctionError.invalidInput("shift must be between -4.5 and 4.5 stars") }
        var random = SeededGenerator(seed: seed ?? UInt64(truncatingIfNeeded: now) &* 0x9E37_79B9 ^ UInt64(batchSize))
        var inserted = 0
        var ratingSum = 0.0
        // Each new rating has a slot: a user drawn by activity and a few candidate movies drawn by
        // popularity; the first candidate the user has not rated yet fills the slot. Keeping the
        // user when a movie is taken (rather than dropping the pair) keeps the activity mix.
        let candidatesPerSlot = 6
        for _ in 0..<10 where inserted < batchSize {
            let want = batchSize - inserted
            let slots = want + want / 10 + 5
            let users = try sample(slots, database: database, random: &random).map(\.user)
            let movies = try sample(slots * candidatesPerSlot, database: database, random: &random)
            guard !users.isEmpty, !movies.isEmpty else {
                throw FunctionError.conflict("there are no ratings to follow yet; import a dataset first")
            }
            var slotColumn: [Int] = [], rankColumn: [Int] = []
            var userColumn: [Int] = [], movieColumn: [Int] = [], ratingColumn: [Double] = [], timeColumn: [Int64] = []
            for (slot, user) in users.enumerated() {
                let time = now - Int64(random.below(spreadDays * 86_400))
                for rank in 0..<candidatesPerSlot {
                    let movie = movies[random.below(movies.count)]
                    slotColumn.append(slot); rankColumn.append(rank)
                    userColumn.append(user); movieColumn.append(movie.movie)
                    ratingColumn.append(min(5, max(0.5, ((movie.rating + shift) * 2).rounded() / 2)))
                    timeColumn.append(time)
                }
            }
            let result = try database.execute("""
                WITH candidate AS (
                    SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::real[], $6::bigint[])
                        AS c(slot, rank, user_id, movie_id, rating, ts)
                ), fresh AS (
                    SELECT DISTINCT ON (slot) * FROM candidate c
                    WHERE NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = c.user_id AND r.movie_id = c.movie_id)
                    ORDER BY slot, rank
                ), chosen AS (
                    SELECT DISTINCT ON (user_id, movie_id) * FROM fresh ORDER BY user_id, movie_id, slot
                )
                INSERT INTO ratings (user_id, movie_id, rating, "timestamp")
                SELECT user_id, movie_id, rating, ts FROM chosen ORDER BY slot LIMIT $7
                ON CONFLICT (user_id, movie_id) DO NOTHING
                RETURNING rating
                """, [SQLArray(slotColumn), SQLArray(rankColumn), SQLArray(userColumn), SQLArray(movieColumn),
                      SQLArray(ratingColumn), SQLArray(timeColumn), want])
            inserted += result.count
            for index in 0..<result.count { ratingSum += result.double(index, 0) ?? 0 }
        }
        return GenerateResult(requested: batchSize, inserted: inserted, shift: shift, timestamp: now,
                              meanRating: inserted > 0 ? ratingSum / Double(inserted) : nil)
    }

    struct SampledRating { var user: Int; var movie: Int; var rating: Double }

    /// About `n` ratings drawn at random without sorting the table: a block sample sized from
    /// the table's statistics, then shuffled (a full scan only for small tables).
    static func sample(_ n: Int, database: Database, random: inout SeededGenerator) throws(FunctionError) -> [SampledRating] {
        let pages = try database.execute("SELECT greatest(relpages, 1), greatest(reltuples, 0) FROM pg_class WHERE oid = 'ratings'::regclass")
        let relpages = Double(pages.int(0, 0) ?? 1)
        let tuples = pages.double(0, 1) ?? 0
        let rows: ResultSet
        if tuples < 50_000 {
            // random() follows the generator, so a seeded run is repeatable.
            try database.execute("SELECT setseed($1)", [Double(random.below(1 << 30)) / Double(1 << 30)])
            rows = try database.execute("SELECT user_id, movie_id, rating FROM ratings ORDER BY random() LIMIT $1", [n])
        } else {
            // Several blocks per wanted row, so that rows of one user (stored together) do not dominate.
            let percent = min(100, max(0.001, Double(n) * 3 / relpages * 100))
            rows = try database.execute("""
                SELECT user_id, movie_id, rating FROM ratings TABLESAMPLE SYSTEM ($1) REPEATABLE ($2) ORDER BY random() LIMIT $3
                """, [percent, Int(random.below(1 << 30)), n])
        }
        return (0..<rows.count).map { SampledRating(user: rows.int($0, 0) ?? 0, movie: rows.int($0, 1) ?? 0, rating: rows.double($0, 2) ?? 0) }
    }

    // MARK: random

    public struct RandomRating: Codable, Sendable {
        public var userId: Int
        public var movieId: Int
        public var title: String
        public var genres: String
        public var rating: Double
        public var timestamp: Int64
        enum CodingKeys: String, CodingKey { case userId = "user_id", movieId = "movie_id", title, genres, rating, timestamp }
    }

    public static let maximumRandomSample = 1000

    public static func random(n: Int, userId: Int?, database: Database) throws(FunctionError) -> [RandomRating] {
        guard (1...maximumRandomSample).contains(n) else {
            throw FunctionError.invalidInput("n must be between 1 and \(maximumRandomSample), got \(n)")
        }
        var generator = SeededGenerator(seed: UInt64(Date().timeIntervalSince1970 * 1e6))
        let keys: [(Int, Int)]
        if let userId {
            let rows = try database.execute("SELECT user_id, movie_id FROM ratings WHERE user_id = $1 ORDER BY random() LIMIT $2", [userId, n])
            if rows.count == 0, try database.execute("SELECT 1 FROM users WHERE user_id = $1", [userId]).count == 0 {
                throw FunctionError.notFound("user \(userId) has no ratings")
            }
            keys = (0..<rows.count).map { (rows.int($0, 0) ?? 0, rows.int($0, 1) ?? 0) }
        } else {
            keys = try sample(n, database: database, random: &generator).map { ($0.user, $0.movie) }
        }
        guard !keys.isEmpty else { return [] }
        let rows = try database.execute("""
            SELECT r.user_id, r.movie_id, m.title, m.genres, r.rating, r."timestamp"
            FROM unnest($1::int[], $2::int[]) AS k(user_id, movie_id)
            JOIN ratings r USING (user_id, movie_id) JOIN movies m ON m.movie_id = r.movie_id
            """, [SQLArray(keys.map(\.0)), SQLArray(keys.map(\.1))])
        return try rows.map { row throws(FunctionError) in
            RandomRating(userId: row.int(0) ?? 0, movieId: row.int(1) ?? 0, title: row.string(2) ?? "", genres: row.string(3) ?? "",
                         rating: row.double(4) ?? 0, timestamp: Int64(row.int(5) ?? 0))
        }
    }

    // MARK: stats

    public struct Stats: Codable, Sendable {
        public var users: Int
        public var movies: Int
        public var ratings: Int
        public var averageRating: Double?
        public var lastImport: String?
        enum CodingKeys: String, CodingKey { case users, movies, ratings, averageRating = "average_rating", lastImport = "last_import" }
    }

    /// O(1) in the number of ratings: totals are kept by triggers (see Schema).
    public static func stats(database: Database) throws(FunctionError) -> Stats {
        let row = try database.execute("""
            SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM movies), t.count,
                   CASE WHEN t.count > 0 THEN t.sum / t.count END,
                   (SELECT to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM imports
                     WHERE status = 'succeeded' ORDER BY import_id DESC LIMIT 1)
            FROM rating_totals t
            """)
        return Stats(users: row.int(0, 0) ?? 0, movies: row.int(0, 1) ?? 0, ratings: row.int(0, 2) ?? 0,
                     averageRating: row.double(0, 3).map { ($0 * 10_000).rounded() / 10_000 }, lastImport: row.string(0, 4))
    }
}
