/// `GET /monitoring/stats` and `GET /monitoring/recommendations`: what the ratings and the
/// served recommendations looked like over the last days.
public enum Monitoring {
    public struct RatingStats: Codable, Sendable {
        /// The window: the last `days` days, or the last `lastRatings` ratings (then `from` is
        /// the oldest of them).
        public var days: Int?
        public var lastRatings: Int?
        public var from: Int64
        public var users: Int
        public var movies: Int
        public var ratings: Int
        public var mean: Double?
        public var std: Double?
        public var min: Double?
        public var max: Double?
        public var distinctDays: Int
        enum CodingKeys: String, CodingKey {
            case days, from, users, movies, ratings, mean, std, min, max
            case lastRatings = "last_ratings", distinctDays = "distinct_days"
        }
    }

    /// The newest `lastRatings` ratings, read backwards along the covering timestamp index.
    public static func ratingStats(lastRatings: Int, database: Database) throws(FunctionError) -> RatingStats {
        let row = try database.execute("""
            SELECT count(DISTINCT user_id), count(DISTINCT movie_id), count(*), avg(rating), stddev_pop(rating), min(rating), max(rating),
                   count(DISTINCT "timestamp" / 86400), min("timestamp")
            FROM (SELECT user_id, movie_id, rating, "timestamp" FROM ratings ORDER BY "timestamp" DESC LIMIT $1) latest
            """, [lastRatings])
        return RatingStats(days: nil, lastRatings: lastRatings, from: Int64(row.int(0, 8) ?? 0), users: row.int(0, 0) ?? 0, movies: row.int(0, 1) ?? 0,
                           ratings: row.int(0, 2) ?? 0, mean: row.double(0, 3), std: row.double(0, 4), min: row.double(0, 5), max: row.double(0, 6),
                           distinctDays: row.int(0, 7) ?? 0)
    }

    public static func ratingStats(days: Int, now: Int64, database: Database) throws(FunctionError) -> RatingStats {
        let from = now - Int64(days) * 86_400
        let row = try database.execute("""
            SELECT count(DISTINCT user_id), count(DISTINCT movie_id), count(*), avg(rating), stddev_pop(rating), min(rating), max(rating),
                   count(DISTINCT "timestamp" / 86400)
            FROM ratings WHERE "timestamp" >= $1
            """, [from])
        return RatingStats(days: days, lastRatings: nil, from: from, users: row.int(0, 0) ?? 0, movies: row.int(0, 1) ?? 0, ratings: row.int(0, 2) ?? 0,
                           mean: row.double(0, 3), std: row.double(0, 4), min: row.double(0, 5), max: row.double(0, 6), distinctDays: row.int(0, 7) ?? 0)
    }

    public struct RecommendationQuality: Codable, Sendable {
        public var days: Int
        public var requests: Int
        public var items: Int
        public var distinctItems: Int
        /// Mean over lists of the share of movie pairs whose genre sets differ (1 − Jaccard similarity).
        public var intraListGenreDiversity: Double?
        /// Share of recommended items outside the 100 most-rated movies.
        public var novelty: Double?
        public var catalogCoverage: Double?
        public var methods: [String: Int]
        public var meanScoreByMethod: [String: Double]
        enum CodingKeys: String, CodingKey {
            case days, requests, items, novelty, methods
            case distinctItems = "distinct_items", intraListGenreDiversity = "intra_list_genre_diversity"
            case catalogCoverage = "catalog_coverage", meanScoreByMethod = "mean_score_by_method"
        }
    }

    public static func recommendationQuality(days: Int, database: Database, limit: Int = 100_000) throws(FunctionError) -> RecommendationQuality {
        let rows = try database.execute("""
            SELECT method, movie_ids, scores FROM recommendation_log WHERE created_at >= now() - make_interval(days => $1)
            ORDER BY log_id DESC LIMIT $2
            """, [days, limit])
        let top = try database.execute("SELECT movie_id FROM movie_stats ORDER BY count DESC, movie_id LIMIT 100")
        let popular = Set((0..<top.count).compactMap { top.int($0, 0) })
        let catalog = try database.execute("SELECT count(*) FROM movies").int(0, 0) ?? 0
        var genres: [Int: Set<Int>] = [:]
        var lists: [[Int]] = []
        var methods: [String: Int] = [:], scoreSums: [String: Double] = [:], scoreCounts: [String: Int] = [:]
        var items = 0, novel = 0
        var distinct = Set<Int>()
        for index in 0..<rows.count {
            let method = rows.string(index, 0) ?? "unknown"
            let movies = parseArray(rows.string(index, 1)).compactMap { Int($0) }
            let scores = parseArray(rows.string(index, 2)).compactMap { Double($0) }
            methods[method, default: 0] += 1
            for score in scores { scoreSums[method, default: 0] += score; scoreCounts[method, default: 0] += 1 }
            items += movies.count
            novel += movies.filter { !popular.contains($0) }.count
            distinct.formUnion(movies)
            lists.append(movies)
        }
        if !distinct.isEmpty {
            let links = try database.execute("SELECT movie_id, genre_id FROM movie_genres WHERE movie_id = ANY($1::int[])", [SQLArray(Array(distinct))])
            for index in 0..<links.count { genres[links.int(index, 0) ?? 0, default: []].insert(links.int(index, 1) ?? 0) }
        }
        var diversitySum = 0.0, diversityLists = 0
        for list in lists where list.count > 1 {
            var pairs = 0, total = 0.0
            for a in 0..<list.count { for b in (a + 1)..<list.count {
                let x = genres[list[a]] ?? [], y = genres[list[b]] ?? []
                let union = x.union(y).count
                total += union == 0 ? 0 : 1 - Double(x.intersection(y).count) / Double(union)
                pairs += 1
            } }
            diversitySum += total / Double(pairs)
            diversityLists += 1
        }
        return RecommendationQuality(days: days, requests: rows.count, items: items, distinctItems: distinct.count,
                                     intraListGenreDiversity: diversityLists > 0 ? diversitySum / Double(diversityLists) : nil,
                                     novelty: items > 0 ? Double(novel) / Double(items) : nil,
                                     catalogCoverage: catalog > 0 ? Double(distinct.count) / Double(catalog) : nil,
                                     methods: methods,
                                     meanScoreByMethod: Dictionary(uniqueKeysWithValues: scoreSums.map { ($0.key, $0.value / Double(max(scoreCounts[$0.key] ?? 1, 1))) }))
    }

    /// PostgreSQL's text form of an array, "{1,2,3}".
    static func parseArray(_ text: String?) -> [Substring] {
        guard let text, text.count > 2 else { return [] }
        return text.dropFirst().dropLast().split(separator: ",")
    }
}
