/// The predict function: top-N unseen movies for a user from the champion (with fold-in for
/// users newer than the model), cold start from the popularity stored with the model, the
/// database's popularity when there is no model yet, single ratings, and batch exports.
public final class PredictFunction: FunctionHandler {
    public enum Action: String, StrictAction {
        case predict, batch
        /// Both read a JSON body.
        public var parameters: AcceptedKeys? { nil }
    }

    static let routes: Router<Action> = {
        var router = Router<Action>()
        router.on("POST", "/predict/", .predict)
        router.on("POST", "/predict/batch", .batch)
        return router
    }()

    private let connection: DatabaseHandle
    let cache: ChampionCache
    let catalogue = CatalogueCache()
    /// Whether to hold the whole catalogue between requests: in a warm process (the Runtime
    /// API loop), where it pays; not in a one-shot process, whose start it would slow.
    public var holdsCatalogue: Bool
    private var artifacts: ArtifactStore?
    /// The recommendation log keeps about this many rows; older ones are trimmed as it grows.
    static let logCapacity = 1_000_000

    public init(requireDatabase: Bool = false) throws(FunctionError) {
        try DatabaseHandle.requireConfiguration(requireDatabase, function: "predict")
        connection = DatabaseHandle(prepare: Self.prepare)
        cache = ChampionCache()
        holdsCatalogue = FunctionRuntime.isLambdaRuntime
    }

    /// With its parts given rather than read from the environment (tests, the local runner).
    public init(database: Database, store: ArtifactStore?, cache: ChampionCache) {
        connection = DatabaseHandle(database, prepare: Self.prepare)
        artifacts = store
        self.cache = cache
        holdsCatalogue = false
    }

    func database() throws(FunctionError) -> Database { try connection.get() }

    /// This session only appends to the recommendation log: losing its last entries in a crash
    /// is acceptable, waiting for a WAL flush on every request is not.
    static func prepare(_ database: Database) throws(FunctionError) {
        try database.execute("SET synchronous_commit = off")
    }

    func store() throws(FunctionError) -> ArtifactStore {
        if let artifacts { return artifacts }
        let store = try ArtifactStore.fromEnvironment()
        artifacts = store
        return store
    }

    public func handle(_ event: Event, context: InvocationContext) throws(FunctionError) -> Reply {
        writePendingLog()  // a caller that never calls afterResponse still gets its log written
        let input = try ActionInput(event, router: Self.routes, default: .predict)
        return try perform(input.action, body: input.body, context: context)
    }

    private func perform(_ action: Action, body: Data, context: InvocationContext) throws(FunctionError) -> Reply {
        switch action {
        case .predict:
            let request = try JSON.decodeRequest(PredictRequest.self, from: body)
            if request.movieId != nil { return .json(try predictOne(request)) }
            let list = try recommend(request)
            var reply = Reply.json(list)
            reply.metrics = [EmbeddedMetric("Recommendations", 1), EmbeddedMetric("RecommendedMovies", Double(list.recommendations.count)),
                             EmbeddedMetric("ColdStartRecommendations", list.method.hasPrefix("popularity") ? 1 : 0)]
            return reply
        case .batch:
            let request = try JSON.decodeRequest(BatchRequest.self, from: body)
            return .json(try batch(request, id: context.requestId))
        }
    }

    // MARK: top-N

    public func recommend(_ request: PredictRequest) throws(FunctionError) -> RecommendationList {
        let (user, topN) = try request.validated()
        let database = try database()
        let seen = try ratings(of: user, database: database)
        let allowed = try genreFilter(request.genres, database: database)
        let champion = try cache.champion(database: database, store: store)
        var picks: [(Int32, Float)] = []
        var method: String
        // A few spare picks cover movies the model knows that the catalogue no longer has.
        let wanted = topN + 10
        let seenIDs = Set(seen.map(\.0))
        if let champion, let scored = champion.model.scores(user: user, ratings: seen) {
            let model = champion.model
            var excluded = [Bool](repeating: false, count: model.itemCount)
            for (id, _) in seen { let item = model.itemIndex(id); if item >= 0 { excluded[Int(item)] = true } }
            if let allowed { for item in 0..<model.itemCount where !allowed.contains(model.itemIDs[item]) { excluded[item] = true } }
            picks = topIndices(scored.scores, count: wanted, excluded: { excluded[$0] }).map { (model.itemIDs[$0.0], $0.1) }
            method = scored.method
        } else if let champion {
            let model = champion.model
            for (index, id) in model.popularItems.enumerated() where !seenIDs.contains(id) && (allowed?.contains(id) ?? true) {
                picks.append((id, model.popularScores[index]))
                if picks.count == wanted { break }
            }
            method = seen.isEmpty ? "popularity_cold_start" : "popularity"
        } else {
            picks = try databasePopularity(excluding: seenIDs, allowed: allowed, count: wanted, database: database)
            method = "popularity_no_model"
        }
        let titles = try catalogue.movies(picks.map(\.0), database: database)
        var recommendations: [Recommendation] = []
        for (id, score) in picks {
            guard let movie = titles[id] else { continue }
            recommendations.append(Recommendation(movieId: Int(id), title: movie.title, genres: movie.genres,
                                                  score: (Double(score) * 10_000).rounded() / 10_000, movie: movie.title))
            if recommendations.count == topN { break }
        }
        let answer = RecommendationList(userId: Int(user), recommendations: recommendations, method: method,
                                        modelVersion: champion?.version, topScore: recommendations.first?.score)
        pendingLog = answer
        return answer
    }

    public func predictOne(_ request: PredictRequest) throws(FunctionError) -> SinglePrediction {
        let (user, _) = try request.validated()
        let movie = Int32(request.movieId ?? 0)
        let database = try database()
        let seen = try ratings(of: user, database: database)
        let title = try catalogue.movies([movie], database: database)[movie]?.title
        guard title != nil else { throw FunctionError.notFound("movie \(movie) is not in the catalogue") }
        let actual = seen.first { $0.0 == movie }.map { Double($0.1) }
        guard let champion = try cache.champion(database: database, store: store) else {
            let stats = try database.execute("SELECT count, sum FROM movie_stats WHERE movie_id = $1", [movie])
            let mean = stats.count > 0 && (stats.int(0, 0) ?? 0) > 0 ? (stats.double(0, 1) ?? 0) / (stats.double(0, 0) ?? 1) : nil
            return SinglePrediction(userId: Int(user), movieId: Int(movie), title: title, score: mean ?? 0, wasImpossible: true,
                                    method: "movie_mean_no_model", modelVersion: nil, actualRating: actual)
        }
        let model = champion.model
        let item = model.itemIndex(movie)
        if item >= 0, let scored = model.scores(user: user, ratings: seen) {
            let impossible = scored.method.hasPrefix("knn") && Self.knnImpossible(model, item: Int(item), user: user, seen: seen)
            return SinglePrediction(userId: Int(user), movieId: Int(movie), title: title, score: Double(scored.scores[Int(item)]),
                                    wasImpossible: impossible, method: scored.method, modelVersion: champion.version, actualRating: actual)
        }
        return SinglePrediction(userId: Int(user), movieId: Int(movie), title: title, score: Double(model.metadata.globalMean),
                                wasImpossible: true, method: "global_mean", modelVersion: champion.version, actualRating: actual)
    }

    /// KNN answers the global mean when fewer than min_k neighbours rated the movie; say so.
    static func knnImpossible(_ model: MappedModel, item: Int, user: Int32, seen: [(Int32, Float)]) -> Bool {
        guard let scored = model.scores(user: user, ratings: seen) else { return true }
        return scored.scores[item] == model.metadata.scale.clip(model.metadata.globalMean)
    }

    // MARK: batch

    public struct BatchRequest: Codable, Sendable, StrictRequest {
        public var userIds: [Int]
        public var topN: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case userIds = "user_ids", topN = "top_n" }
        public static let accepted = AcceptedKeys(CodingKeys.self, aliases: PredictRequest.referenceAliases)
    }

    public struct BatchResult: Codable, Sendable {
        public var users: Int
        public var rows: Int
        public var key: String
        public var location: String
        public var methods: [String: Int]
        public var seconds: Double
        enum CodingKeys: String, CodingKey { case users, rows, key, location, methods, seconds }
    }

    public static let maximumBatchUsers = 100_000

    public func batch(_ request: BatchRequest, id: String) throws(FunctionError) -> BatchResult {
        let started = monotonicSeconds()
        guard !request.userIds.isEmpty else { throw FunctionError.invalidInput("user_ids must hold at least one user") }
        guard request.userIds.count <= Self.maximumBatchUsers else {
            throw FunctionError.tooLarge("at most \(Self.maximumBatchUsers) users per batch, got \(request.userIds.count)")
        }
        let topN = request.topN ?? 10
        guard (1...PredictRequest.maximumTopN).contains(topN) else { throw .invalidInput("top_n must be between 1 and \(PredictRequest.maximumTopN)") }
        for user in request.userIds where user <= 0 || user >= Int(IDSet.maximumID) {
            throw FunctionError.invalidInput("user_ids must be positive integers; got \(user)")
        }
        let database = try database()
        let artifacts = try store()
        let champion = try cache.champion(database: database, store: store)
        // Everyone's ratings in one query, and the whole catalogue once.
        var seenByUser: [Int32: [(Int32, Float)]] = [:]
        let rows = try database.execute("SELECT user_id, movie_id, rating FROM ratings WHERE user_id = ANY($1::int[])", [SQLArray(request.userIds)])
        for index in 0..<rows.count {
            seenByUser[Int32(rows.int(index, 0) ?? 0), default: []].append((Int32(rows.int(index, 1) ?? 0), Float(rows.double(index, 2) ?? 0)))
        }
        let titles = try catalogue.movies(nil, database: database)
        let fallback = champion == nil ? try databasePopularity(excluding: [], allowed: nil, count: 1000, database: database) : []
        var csv = "user_id,rank,movie_id,title,score,method\n"
        var methods: [String: Int] = [:]
        var written = 0
        for raw in request.userIds {
            let user = Int32(raw)
            let seen = seenByUser[user] ?? []
            let seenIDs = Set(seen.map(\.0))
            var picks: [(Int32, Float)] = []
            var method = "popularity_no_model"
            if let model = champion?.model {
                if let scored = model.scores(user: user, ratings: seen) {
                    var excluded = [Bool](repeating: false, count: model.itemCount)
                    for (id, _) in seen { let item = model.itemIndex(id); if item >= 0 { excluded[Int(item)] = true } }
                    picks = topIndices(scored.scores, count: topN + 5, excluded: { excluded[$0] }).map { (model.itemIDs[$0.0], $0.1) }
                    method = scored.method
                } else {
                    for (index, id) in model.popularItems.enumerated() where !seenIDs.contains(id) {
                        picks.append((id, model.popularScores[index])); if picks.count == topN + 5 { break }
                    }
                    method = seen.isEmpty ? "popularity_cold_start" : "popularity"
                }
            } else {
                picks = fallback.filter { !seenIDs.contains($0.0) }
            }
            var rank = 0
            for (id, score) in picks {
                guard let movie = titles[id] else { continue }
                rank += 1
                csv += "\(raw),\(rank),\(id),\(csvField(movie.title)),\((Double(score) * 10_000).rounded() / 10_000),\(method)\n"
                written += 1
                if rank == topN { break }
            }
            methods[method, default: 0] += 1
        }
        let key = "predictions/batch/\(id).csv"
        try artifacts.put(Data(csv.utf8), key: key, contentType: "text/csv")
        return BatchResult(users: request.userIds.count, rows: written, key: key, location: artifacts.url(key), methods: methods,
                           seconds: monotonicSeconds() - started)
    }

    // MARK: data access

    func ratings(of user: Int32, database: Database) throws(FunctionError) -> [(Int32, Float)] {
        let rows = try database.execute("SELECT movie_id, rating FROM ratings WHERE user_id = $1", [user])
        return (0..<rows.count).map { (Int32(rows.int($0, 0) ?? 0), Float(rows.double($0, 1) ?? 0)) }
    }

    func genreFilter(_ genres: [String]?, database: Database) throws(FunctionError) -> Set<Int32>? {
        guard let genres, !genres.isEmpty else { return nil }
        let known = try database.execute("SELECT name FROM genres WHERE name = ANY($1::text[])", [SQLArray(genres)])
        let names = Set((0..<known.count).compactMap { known.string($0, 0) })
        let unknown = genres.filter { !names.contains($0) }
        guard unknown.isEmpty else {
            let all = try database.execute("SELECT name FROM genres ORDER BY name")
            throw FunctionError.invalidInput("unknown genre \(unknown.map { "'\($0)'" }.joined(separator: ", ")); known: \((0..<all.count).compactMap { all.string($0, 0) }.joined(separator: ", "))")
        }
        let rows = try database.execute("""
            SELECT DISTINCT mg.movie_id FROM movie_genres mg JOIN genres g USING (genre_id) WHERE g.name = ANY($1::text[])
            """, [SQLArray(genres)])
        return Set((0..<rows.count).compactMap { rows.int($0, 0).map(Int32.init) })
    }


    /// The reference system's cold-start ranking, (count·mean)/(count + 100) over movies with at
    /// least 10 ratings, from the per-movie totals the triggers keep (no scan of the ratings).
    func databasePopularity(excluding seen: Set<Int32>, allowed: Set<Int32>?, count: Int, database: Database) throws(FunctionError) -> [(Int32, Float)] {
        let rows = try database.execute("""
            SELECT movie_id, sum / (count + 100.0) AS score FROM movie_stats WHERE count >= 10 ORDER BY score DESC, movie_id LIMIT $1
            """, [count + seen.count + (allowed == nil ? 0 : 5000)])
        var picks: [(Int32, Float)] = []
        for index in 0..<rows.count {
            let id = Int32(rows.int(index, 0) ?? 0)
            if seen.contains(id) || !(allowed?.contains(id) ?? true) { continue }
            picks.append((id, Float(rows.double(index, 1) ?? 0)))
            if picks.count == count { break }
        }
        return picks
    }

    // MARK: the recommendation log

    /// The answer given and not yet in the log: written after it is sent (`afterResponse`), so
    /// the caller never waits for the insert. One at most, as the runtime asks for the next
    /// event only after `afterResponse`.
    private var pendingLog: RecommendationList?

    public func afterResponse() {
        writePendingLog()
        if holdsCatalogue, let current = try? database() { catalogue.refresh(database: current, checkInterval: cache.checkInterval) }
    }

    /// A failure is logged, not thrown: the answer has gone, and the log is monitoring, not the
    /// record of anything.
    func writePendingLog() {
        guard let answer = pendingLog else { return }
        pendingLog = nil
        do {
            let database = try database()
            let id = try database.execute("""
                INSERT INTO recommendation_log (user_id, method, model_version, movie_ids, scores) VALUES ($1, $2, $3, $4::int[], $5::real[]) RETURNING log_id
                """, [answer.userId, answer.method, answer.modelVersion, SQLArray(answer.recommendations.map(\.movieId)),
                      SQLArray(answer.recommendations.map(\.score))]).int(0, 0) ?? 0
            if id % 1000 == 0 {
                try database.execute("DELETE FROM recommendation_log WHERE log_id <= $1", [id - Self.logCapacity])
            }
        } catch {
            Log.error("recommendation log not written", ["error": .string(error.message)])
        }
    }
}

/// Titles and genres, by movie id. A warm process holds the whole catalogue, loaded and kept
/// current after responses (`refresh`), so an answer's titles are looked up, not queried; until
/// it is loaded (the first request, a one-shot process) the titles needed are queried. The
/// catalogue changes only by an import, so it is read again when the latest successful import
/// is another one.
final class CatalogueCache {
    struct Movie { var title: String; var genres: String }

    private var held: [Int32: Movie]?
    private var importID: Int?
    private var lastCheck = -Double.infinity

    /// The movies among `ids`, or the whole catalogue when `ids` is nil. (Held, it may return
    /// more than asked: the caller looks up what it needs.)
    func movies(_ ids: [Int32]?, database: Database) throws(FunctionError) -> [Int32: Movie] {
        if let held { return held }
        guard let ids else { return try Self.read("SELECT movie_id, title, genres FROM movies", [], database) }
        return try Self.read("SELECT movie_id, title, genres FROM movies WHERE movie_id = ANY($1::int[])", [SQLArray(ids.map(Int.init))], database)
    }

    /// Loads the catalogue, or reloads it after a new import; checks at most every
    /// `checkInterval` seconds. A failure keeps what is held (the next check tries again).
    func refresh(database: Database, checkInterval: Double) {
        let now = monotonicSeconds()
        guard now - lastCheck >= checkInterval else { return }
        lastCheck = now
        do {
            let latest = try database.execute("SELECT max(import_id) FROM imports WHERE status = 'succeeded'").int(0, 0)
            // Movies written other than by an import (none on record) are read at every check.
            if held != nil, let latest, latest == importID { return }
            held = try Self.read("SELECT movie_id, title, genres FROM movies", [], database)
            importID = latest
        } catch {
            Log.error("movie catalogue not refreshed", ["error": .string(error.message)])
        }
    }

    private static func read(_ sql: String, _ parameters: [(any SQLParameter)?], _ database: Database) throws(FunctionError) -> [Int32: Movie] {
        let rows = try database.execute(sql, parameters)
        var result: [Int32: Movie] = [:]
        result.reserveCapacity(rows.count)
        for index in 0..<rows.count {
            result[Int32(rows.int(index, 0) ?? 0)] = Movie(title: rows.string(index, 1) ?? "", genres: rows.string(index, 2) ?? "")
        }
        return result
    }
}

func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
    return "\"" + text.replacing("\"", with: "\"\"") + "\""
}
