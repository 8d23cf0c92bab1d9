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
            try database.advisoryTransactionLock(Migrations.LockKey.ratingWrites)
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

    /// The window a batch spreads over by default: a week, the shortest span in which every
    /// weekday can appear as often as the stored ratings have it.
    public static let defaultSpreadDays = 7

    /// Adds synthetic ratings that look like the stored ones on every drift feature, so an
    /// unshifted batch is no drift:
    /// - each new rating takes its user and time of day from one stored rating drawn at random
    ///   (so users come in proportion to their activity), its movie and rating from another (the
    ///   rating moved by `shift` stars: the only feature `shift` is meant to move);
    /// - the movie is the drawn one or, when the user has rated that already, the nearest movie
    ///   in popularity rank the user has not (so popular movies stay as popular as real users
    ///   make them; taking any unrated movie instead favoured the unpopular ones);
    /// - its day is a day of the batch's window (the `spreadDays` days before `now`) chosen so
    ///   that the window's weekdays follow the stored mix, counting what the window already holds.
    /// Concurrent batches write one at a time (see `LockKey.ratingWrites`).
    public static func generate(batchSize: Int, shift: Double, seed: UInt64?, database: Database, spreadDays: Int = defaultSpreadDays,
                                now: Int64 = Int64(Date().timeIntervalSince1970)) throws(FunctionError) -> GenerateResult {
        guard (1...365).contains(spreadDays) else { throw FunctionError.invalidInput("spread_days must be between 1 and 365, got \(spreadDays)") }
        guard (1...maximumGenerateBatch).contains(batchSize) else {
            throw FunctionError.invalidInput("batch_size must be between 1 and \(maximumGenerateBatch), got \(batchSize)")
        }
        guard shift.isFinite, abs(shift) <= 4.5 else { throw FunctionError.invalidInput("shift must be between -4.5 and 4.5 stars") }
        var random = SeededGenerator(seed: seed ?? UInt64(truncatingIfNeeded: now) &* 0x9E37_79B9 ^ UInt64(batchSize))
        let window = TimeWindow(start: now - Int64(spreadDays) * 86_400, end: now)
        let ranking = try PopularityRanking(database: database)
        var inserted = 0
        var ratingSum = 0.0
        for _ in 0..<10 where inserted < batchSize {
            let want = batchSize - inserted
            // A user (and time of day) from one stored rating, a movie and its rating from
            // another: a pair drawn from one rating would be a movie its user has always rated.
            let draws = want + want / 20 + 5
            let users = try sample(draws, database: database, random: &random)
            let picks = try sample(draws, database: database, random: &random)
            let models = zip(users, picks).map { SampledRating(user: $0.user, movie: $1.movie, rating: $1.rating, timestamp: $0.timestamp) }
            guard !models.isEmpty, !ranking.movies.isEmpty else {
                throw FunctionError.conflict("there are no ratings to follow yet; import a dataset first")
            }
            let swapped = try swapTaken(models, database: database, random: &random)
            let chosen = try ranking.unratedMovies(for: swapped, database: database)
            let kept = zip(swapped, chosen).compactMap { model, movie in movie.map { (model, $0) } }
            let days = try window.days(for: kept.map(\.0.timestamp), database: database, random: &random)
            let result = try database.transaction { () throws(FunctionError) -> ResultSet in
                try database.advisoryTransactionLock(Migrations.LockKey.ratingWrites)
                return try database.execute("""
                    INSERT INTO ratings (user_id, movie_id, rating, "timestamp")
                    SELECT user_id, movie_id, rating, ts FROM unnest($1::int[], $2::int[], $3::real[], $4::bigint[])
                        WITH ORDINALITY AS c(user_id, movie_id, rating, ts, slot)
                    ORDER BY slot LIMIT $5
                    ON CONFLICT (user_id, movie_id) DO NOTHING
                    RETURNING rating
                    """, [SQLArray(kept.map(\.0.user)), SQLArray(kept.map(\.1)),
                          SQLArray(kept.map { min(5, max(0.5, (($0.0.rating + shift) * 2).rounded() / 2)) }),
                          SQLArray(kept.indices.map { window.place(kept[$0].0.timestamp, on: days, at: $0, random: &random) }), want])
            }
            inserted += result.count
            for index in 0..<result.count { ratingSum += result.double(index, 0) ?? 0 }
        }
        return GenerateResult(requested: batchSize, inserted: inserted, shift: shift, timestamp: now,
                              meanRating: inserted > 0 ? ratingSum / Double(inserted) : nil)
    }

    struct SampledRating { var user: Int; var movie: Int; var rating: Double; var timestamp: Int64 }

    /// Draws whose user already rated the drawn movie trade movies with another draw when both
    /// users are free to take the other's movie: the batch then keeps exactly the drawn movies
    /// and the drawn users. (A substitute movie would be less popular on average: heavy users
    /// have rated most popular movies, so an unshifted batch drifted on movie popularity.)
    static func swapTaken(_ models: [SampledRating], database: Database, random: inout SeededGenerator) throws(FunctionError) -> [SampledRating] {
        func rated(_ pairs: [(Int, Int)]) throws(FunctionError) -> Set<Int64> {
            guard !pairs.isEmpty else { return [] }
            let rows = try database.execute("""
                SELECT c.user_id, c.movie_id FROM unnest($1::int[], $2::int[]) AS c(user_id, movie_id)
                JOIN ratings r ON r.user_id = c.user_id AND r.movie_id = c.movie_id
                """, [SQLArray(pairs.map(\.0)), SQLArray(pairs.map(\.1))])
            return Set((0..<rows.count).map { pairKey(user: rows.int($0, 0) ?? 0, movie: rows.int($0, 1) ?? 0) })
        }
        var result = models
        let drawnRated = try rated(models.map { ($0.user, $0.movie) })
        let conflicts = models.indices.filter { drawnRated.contains(pairKey(user: models[$0].user, movie: models[$0].movie)) }
        let free = models.indices.filter { !drawnRated.contains(pairKey(user: models[$0].user, movie: models[$0].movie)) }
        guard !conflicts.isEmpty, !free.isEmpty else { return result }
        let partnersPerConflict = 32
        var partners: [Int: [Int]] = [:]
        var asked: [(Int, Int)] = []
        for index in conflicts {
            let chosen = (0..<partnersPerConflict).map { _ in free[random.below(free.count)] }
            partners[index] = chosen
            for other in chosen {
                asked.append((models[index].user, models[other].movie))
                asked.append((models[other].user, models[index].movie))
            }
        }
        let busy = try rated(asked)
        var traded = Set<Int>()
        var given = Set(models.map { pairKey(user: $0.user, movie: $0.movie) })
        for index in conflicts {
            for other in partners[index] ?? [] where !traded.contains(other) {
                let mine = pairKey(user: models[index].user, movie: models[other].movie)
                let theirs = pairKey(user: models[other].user, movie: models[index].movie)
                guard !busy.contains(mine), !busy.contains(theirs), !given.contains(mine), !given.contains(theirs) else { continue }
                result[index].movie = models[other].movie; result[index].rating = models[other].rating
                result[other].movie = models[index].movie; result[other].rating = models[index].rating
                given.insert(mine); given.insert(theirs)
                traded.insert(other); traded.insert(index)
                break
            }
        }
        return result
    }

    /// Movies by number of ratings, most rated first: where to look for a movie as popular as one
    /// a user has already rated.
    struct PopularityRanking {
        let movies: [Int]
        let rank: [Int: Int]
        /// How far from the drawn movie's rank the first, batched look goes each way.
        static let reach = 12

        init(database: Database) throws(FunctionError) {
            let rows = try database.execute("SELECT movie_id FROM movie_stats WHERE count > 0 ORDER BY count DESC, movie_id")
            movies = (0..<rows.count).map { rows.int($0, 0) ?? 0 }
            var rank: [Int: Int] = [:]
            for (index, movie) in movies.enumerated() { rank[movie] = index }
            self.rank = rank
        }

        /// Ranks to try for a draw at `rank`: itself, then alternately one above and one below, so
        /// the substitutes are on average as popular as the movie drawn.
        func candidates(around rank: Int) -> [Int] {
            var result = [movies[rank]]
            for step in 1...Self.reach {
                if rank - step >= 0 { result.append(movies[rank - step]) }
                if rank + step < movies.count { result.append(movies[rank + step]) }
            }
            return result
        }

        /// For each draw, the nearest movie in rank its user has not rated (nor been given in
        /// this batch); nil only when the user has rated the whole catalogue.
        func unratedMovies(for models: [SampledRating], database: Database) throws(FunctionError) -> [Int?] {
            let lists = models.map { candidates(around: rank[$0.movie] ?? 0) }
            var users: [Int] = [], movies: [Int] = []
            for (model, list) in zip(models, lists) { for movie in list { users.append(model.user); movies.append(movie) } }
            let rows = try database.execute("""
                SELECT c.user_id, c.movie_id FROM unnest($1::int[], $2::int[]) AS c(user_id, movie_id)
                JOIN ratings r ON r.user_id = c.user_id AND r.movie_id = c.movie_id
                """, [SQLArray(users), SQLArray(movies)])
            var taken = Set((0..<rows.count).map { pairKey(user: rows.int($0, 0) ?? 0, movie: rows.int($0, 1) ?? 0) })
            var chosen: [Int?] = zip(models, lists).map { model, list in
                guard let movie = list.first(where: { !taken.contains(pairKey(user: model.user, movie: $0)) }) else { return nil }
                taken.insert(pairKey(user: model.user, movie: movie))
                return movie
            }
            // Heavy users can have rated every nearby movie; dropping them would make the batch
            // look lighter than the stored users, so they look further, with all their ratings.
            let crowded = Set(zip(models, chosen).filter { $0.1 == nil }.map(\.0.user))
            guard !crowded.isEmpty else { return chosen }
            let rated = try database.execute("SELECT user_id, movie_id FROM ratings WHERE user_id = ANY($1::int[])", [SQLArray(Array(crowded))])
            for index in 0..<rated.count { taken.insert(pairKey(user: rated.int(index, 0) ?? 0, movie: rated.int(index, 1) ?? 0)) }
            for (index, model) in models.enumerated() where chosen[index] == nil {
                let center = rank[model.movie] ?? 0
                for step in 0..<(2 * self.movies.count) {
                    let position = center + (step % 2 == 0 ? step / 2 : -(step + 1) / 2)
                    guard position >= 0 && position < self.movies.count else { continue }
                    let key = pairKey(user: model.user, movie: self.movies[position])
                    if !taken.contains(key) { taken.insert(key); chosen[index] = self.movies[position]; break }
                }
            }
            return chosen
        }
    }

    /// A (user, movie) pair as one number, for the sets above.
    static func pairKey(user: Int, movie: Int) -> Int64 { Int64(user) << 32 | Int64(movie) }

    /// The days a batch's timestamps go to (start inclusive, end exclusive).
    struct TimeWindow {
        var start: Int64
        var end: Int64

        static func day(of time: Int64) -> Int64 { time >= 0 ? time / 86_400 : -((-time + 86_399) / 86_400) }
        static func weekday(ofDay day: Int64) -> Int { Int(((day % 7) + 7) % 7) }

        /// One weekday per new rating: the stored mix (the weekdays of the drawn ratings) applied
        /// to the window's total after the batch, minus what the window already holds, so the
        /// window, not just this batch, follows the stored ratings. Weekdays the window does not
        /// contain (windows under a week) get nothing.
        func days(for models: [Int64], database: Database, random: inout SeededGenerator) throws(FunctionError) -> [Int] {
            var present = Set<Int>()
            var day = Self.day(of: start)
            while day * 86_400 < end { present.insert(Self.weekday(ofDay: day)); day += 1 }
            var share = [Double](repeating: 0, count: 7)
            for time in models { share[Self.weekday(ofDay: Self.day(of: time))] += 1 }
            var held = [Double](repeating: 0, count: 7)
            let rows = try database.execute("""
                SELECT "timestamp" / 86400, count(*) FROM ratings WHERE "timestamp" >= $1 AND "timestamp" < $2 GROUP BY 1
                """, [start, end])
            for index in 0..<rows.count { held[Self.weekday(ofDay: Int64(rows.int(index, 0) ?? 0))] += Double(rows.int(index, 1) ?? 0) }
            let open = (0..<7).filter { present.contains($0) }
            let shareTotal = open.reduce(0) { $0 + share[$1] }
            let total = open.reduce(0) { $0 + held[$1] } + Double(models.count)
            var deficit = [Double](repeating: 0, count: 7)
            for weekday in open { deficit[weekday] = max(0, (shareTotal > 0 ? share[weekday] / shareTotal : 1) * total - held[weekday]) }
            let deficitTotal = deficit.reduce(0, +)
            // Quotas by largest remainder, then shuffled into the order of the ratings.
            var quotas = deficit.map { deficitTotal > 0 ? $0 / deficitTotal * Double(models.count) : 0 }
            if deficitTotal == 0 { for weekday in open { quotas[weekday] = Double(models.count) / Double(max(open.count, 1)) } }
            var labels: [Int] = []
            for weekday in 0..<7 { labels += [Int](repeating: weekday, count: Int(quotas[weekday])) }
            let byRemainder = (0..<7).sorted { quotas[$0] - quotas[$0].rounded(.down) > quotas[$1] - quotas[$1].rounded(.down) }
            var next = 0
            while labels.count < models.count, !byRemainder.isEmpty { labels.append(byRemainder[next % 7]); next += 1 }
            for index in stride(from: labels.count - 1, to: 0, by: -1) { labels.swapAt(index, random.below(index + 1)) }
            return labels
        }

        /// A time inside the window with the time of day of `model`, on a day of weekday
        /// `weekdays[index]` (any day of the window when it has none).
        func place(_ model: Int64, on weekdays: [Int], at index: Int, random: inout SeededGenerator) -> Int64 {
            let secondOfDay = model - Self.day(of: model) * 86_400
            var matching: [Int64] = [], anyDay: [Int64] = []
            var day = Self.day(of: start)
            while day * 86_400 < end {
                let time = day * 86_400 + secondOfDay
                if time >= start && time < end {
                    anyDay.append(time)
                    if index < weekdays.count, Self.weekday(ofDay: day) == weekdays[index] { matching.append(time) }
                }
                day += 1
            }
            let choices = matching.isEmpty ? anyDay : matching
            return choices.isEmpty ? end - 1 : choices[random.below(choices.count)]
        }
    }

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
            rows = try database.execute("SELECT user_id, movie_id, rating, \"timestamp\" FROM ratings ORDER BY random() LIMIT $1", [n])
        } else {
            // Several blocks per wanted row, so that rows of one user (stored together) do not dominate.
            let percent = min(100, max(0.001, Double(n) * 3 / relpages * 100))
            rows = try database.execute("""
                SELECT user_id, movie_id, rating, "timestamp" FROM ratings TABLESAMPLE SYSTEM ($1) REPEATABLE ($2) ORDER BY random() LIMIT $3
                """, [percent, Int(random.below(1 << 30)), n])
        }
        return (0..<rows.count).map {
            SampledRating(user: rows.int($0, 0) ?? 0, movie: rows.int($0, 1) ?? 0, rating: rows.double($0, 2) ?? 0,
                          timestamp: Int64(rows.int($0, 3) ?? 0))
        }
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
