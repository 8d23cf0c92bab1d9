/// The ingest function: maps direct events (`{"action": ...}`) and HTTP routes to the
/// actions, and keeps its database connection warm between invocations.
public final class IngestFunction: FunctionHandler {
    public enum Action: String, StrictAction {
        case `import`, rate, generate, random, stats, synthesize, health

        public var parameters: AcceptedKeys? {
            switch self {
            case .import, .rate, .synthesize: nil
            case .generate: AcceptedKeys(["batch_size", "shift", "seed", "spread_days"])
            case .random: AcceptedKeys(["n", "user_id"])
            case .stats, .health: AcceptedKeys.none
            }
        }
    }

    static let routes: Router<Action> = {
        var router = Router<Action>()
        router.on("POST", "/ingest", .import)
        router.on("POST", "/ratings", .rate)
        router.on("POST", "/generate-ratings", .generate)
        router.on("GET", "/get-random-ratings", .random)
        router.on("GET", "/stats", .stats)
        router.on("POST", "/ingest/synthesize", .synthesize)
        // The deployed stack's health route; the local runner answers /health itself, with its
        // pools as well, and calls this action as the nightly pipeline's first step.
        router.on("GET", "/health", .health)
        return router
    }()

    private let connection = DatabaseHandle()

    /// - Parameter requireDatabase: fail at start-up when `DATABASE_URL` is missing.
    public init(requireDatabase: Bool = false) throws(FunctionError) {
        try DatabaseHandle.requireConfiguration(requireDatabase, function: "ingest")
    }

    func database() throws(FunctionError) -> Database { try connection.get() }

    func storage() throws(FunctionError) -> S3Client { try S3Client.fromEnvironment() }

    public func handle(_ event: Event, context: InvocationContext) throws(FunctionError) -> Reply {
        let input = try ActionInput(event, router: Self.routes)
        return try perform(input.action, body: input.body, request: input.parameters)
    }

    private func perform(_ action: Action, body: Data, request: HTTPRequest) throws(FunctionError) -> Reply {
        switch action {
        case .import:
            let input = try JSON.decodeRequest(ImportRequest.self, from: body)
            return .json(try DatasetImporter.run(input, database: try database(), storage: storage))
        case .synthesize:
            let input = try JSON.decodeRequest(SynthesizeRequest.self, from: body)
            return .json(try DatasetSynthesizer.run(input, storage: storage))
        case .rate:
            let input = try JSON.decodeRequest(Ratings.RateRequest.self, from: body)
            return .json(try Ratings.rate(input, database: try database()))
        case .generate:
            let size = try request.integer("batch_size", orDefault: 1000, in: 1...Ratings.maximumGenerateBatch)
            let shift = try request.number("shift") ?? 0
            let seed = try request.integer("seed", in: 0...Int.max).map { UInt64($0) }
            let spread = try request.integer("spread_days", orDefault: Ratings.defaultSpreadDays, in: 1...365)
            return .json(try Ratings.generate(batchSize: size, shift: shift, seed: seed, database: try database(), spreadDays: spread))
        case .random:
            let n = try request.integer("n", orDefault: 10, in: 1...Ratings.maximumRandomSample)
            let user = try request.integer("user_id", in: 1...Int(Int32.max))
            let rows = try Ratings.random(n: n, userId: user, database: try database())
            return .json(RandomAnswer(count: rows.count, ratings: rows))
        case .stats:
            return .json(try Ratings.stats(database: try database()))
        case .health:
            return .json(try Health.check(database: database, store: ArtifactStore.fromEnvironment))
        }
    }

    struct RandomAnswer: Codable { var count: Int; var ratings: [Ratings.RandomRating] }
}
