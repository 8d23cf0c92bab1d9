/// The drift function: drift checks against a stored baseline, baselines, HTML reports and
/// the monitoring statistics.
public final class DriftFunction: FunctionHandler {
    public enum Action: String, StrictAction {
        case drift, setBaseline = "set_baseline", getBaseline = "get_baseline", report, stats, recommendations

        /// All query-style; `POST /monitoring/drift/baseline` may send its fields as a JSON body too.
        public var parameters: AcceptedKeys? {
            switch self {
            case .drift, .report:
                AcceptedKeys(["days", "last_ratings", "from", "to", "method", "threshold", "threshold_pct", "drift_share"])
            case .setBaseline: AcceptedKeys(["from", "to", "last_ratings"])
            case .getBaseline: AcceptedKeys.none
            case .stats: AcceptedKeys(["days", "last_ratings"])
            case .recommendations: AcceptedKeys(["days"])
            }
        }
    }

    static let routes: Router<Action> = {
        var router = Router<Action>()
        router.on("GET", "/monitoring/drift", .drift)
        router.on("POST", "/monitoring/drift/baseline", .setBaseline)
        router.on("GET", "/monitoring/drift/baseline", .getBaseline)
        router.on("GET", "/monitoring/drift/report", .report)
        router.on("GET", "/monitoring/drift/evidently", .report)
        router.on("GET", "/monitoring/stats", .stats)
        router.on("GET", "/monitoring/recommendations", .recommendations)
        return router
    }()

    private let connection: DatabaseHandle
    private var artifacts: ArtifactStore??
    /// Overridable for tests: "now" in epoch seconds.
    var clock: () -> Int64 = { Int64(Date().timeIntervalSince1970) }

    public init(requireDatabase: Bool = false) throws(FunctionError) {
        try DatabaseHandle.requireConfiguration(requireDatabase, function: "drift")
        connection = DatabaseHandle(prepare: Self.prepare)
    }

    public init(database: Database, store: ArtifactStore?) {
        connection = DatabaseHandle(database, prepare: Self.prepare)
        artifacts = .some(store)
    }

    /// A window's read is one scan whose cost estimate passes PostgreSQL's default JIT
    /// threshold; compiling it took 0.7 of 3.8 s for a five-year window of 4.9M ratings and
    /// never paid back (the plan is an index-only scan feeding COPY).
    static func prepare(_ database: Database) throws(FunctionError) {
        try database.execute("SET jit = off")
    }

    func database() throws(FunctionError) -> Database { try connection.get() }

    /// The artifact store when one is configured; drift works without it (no S3 copies then).
    func store() throws(FunctionError) -> ArtifactStore? {
        if let artifacts { return artifacts }
        let store: ArtifactStore? = environment("ARTIFACT_BUCKET") == nil ? nil : try ArtifactStore.fromEnvironment()
        artifacts = .some(store)
        return store
    }

    public func handle(_ event: Event, context: InvocationContext) throws(FunctionError) -> Reply {
        let input = try ActionInput(event, router: Self.routes, default: .drift)
        return try perform(input.action, request: input.parameters)
    }

    /// The runner's `data_drift_detected` and `drift_feature_score`, as Embedded Metric Format.
    static func measurements(of result: DriftResult) -> [EmbeddedMetric] {
        [EmbeddedMetric("DriftDetected", result.driftDetected ? 1 : 0, unit: .none),
         EmbeddedMetric("DriftedFeatures", Double(result.driftedFeatures))]
            + result.features.map { EmbeddedMetric("DriftScore", $0.statistic, unit: .none, dimensions: ["Feature": $0.name]) }
    }

    private func perform(_ action: Action, request: HTTPRequest) throws(FunctionError) -> Reply {
        switch action {
        case .drift:
            let (result, _, _) = try DriftCheck.run(current: try currentWindow(request), options: try options(request), database: try database())
            try record(result, report: nil)
            var reply = Reply.json(result)
            reply.metrics = Self.measurements(of: result)
            return reply
        case .report:
            let database = try database()
            var (result, baseline, current) = try DriftCheck.run(current: try currentWindow(request), options: try options(request), database: database)
            let now = clock()
            let page = DriftCheck.html(result, baseline: baseline, current: current, generatedAt: isoDate(now))
            if let store = try store() {
                let key = "reports/drift/drift-report-\(now).html"
                try store.put(Data(page.utf8), key: key, contentType: "text/html; charset=utf-8")
                result.report = store.url(key)
            }
            try record(result, report: result.report)
            return .html(page)
        case .setBaseline:
            let window = WindowSpec(from: try request.integer("from", in: 0...Int(Int64.max)).map(Int64.init),
                                    to: try request.integer("to", in: 0...Int(Int64.max)).map(Int64.init) ?? clock(),
                                    lastRatings: try request.integer("last_ratings", in: 1...1_000_000_000))
            return .json(try Baselines.create(window, database: try database(), store: try store()), status: 201)
        case .getBaseline:
            guard let baseline = try Baselines.latest(database: try database()) else {
                throw FunctionError.notFound("no drift baseline yet: create one with POST /monitoring/drift/baseline")
            }
            return .json(baseline)
        case .stats:
            if let last = try request.integer("last_ratings", in: 1...100_000_000) {
                return .json(try Monitoring.ratingStats(lastRatings: last, database: try database()))
            }
            let days = try request.integer("days", orDefault: 7, in: 1...36_500)
            return .json(try Monitoring.ratingStats(days: days, now: clock(), database: try database()))
        case .recommendations:
            let days = try request.integer("days", orDefault: 7, in: 1...36_500)
            return .json(try Monitoring.recommendationQuality(days: days, database: try database()))
        }
    }

    /// The current window: last `days` days (default 7), or the last `last_ratings` ratings, or `from`/`to`.
    func currentWindow(_ request: HTTPRequest) throws(FunctionError) -> WindowSpec {
        if let last = try request.integer("last_ratings", in: 1...100_000_000) { return WindowSpec(lastRatings: last) }
        if let from = try request.integer("from", in: 0...Int(Int64.max)) {
            return WindowSpec(from: Int64(from), to: try request.integer("to", in: 0...Int(Int64.max)).map(Int64.init))
        }
        let days = try request.integer("days", orDefault: 7, in: 1...36_500)
        return WindowSpec(from: clock() - Int64(days) * 86_400)
    }

    func options(_ request: HTTPRequest) throws(FunctionError) -> DriftOptions {
        var options = DriftOptions()
        if let method = request.query["method"] {
            guard DriftOptions.methods.contains(method) else {
                throw FunctionError.invalidInput("method must be one of \(DriftOptions.methods.joined(separator: ", ")), got '\(method)'")
            }
            options.method = method
        }
        if let threshold = try request.number("threshold") {
            guard threshold > 0, threshold < 100 else { throw FunctionError.invalidInput("threshold must be positive") }
            options.threshold = threshold
        } else if let percent = try request.number("threshold_pct") {
            // The reference system's parameter: a percentage, read as the distance threshold.
            guard percent > 0, percent <= 100 else { throw FunctionError.invalidInput("threshold_pct must be in (0, 100]") }
            options.threshold = percent / 100
        }
        if let share = try request.number("drift_share") {
            guard share > 0, share <= 1 else { throw FunctionError.invalidInput("drift_share must be in (0, 1]") }
            options.driftShare = share
        }
        return options
    }

    private func record(_ result: DriftResult, report: String?) throws(FunctionError) {
        try database().execute("""
            INSERT INTO drift_reports (baseline_id, drift_detected, share_drifted, result, report_key) VALUES ($1, $2, $3, $4::jsonb, $5)
            """, [result.baselineId, result.driftDetected, result.shareDrifted, try jsonValue(result), report])
    }
}
