/// The train function: routes and direct actions onto the training pipeline and the registry.
public final class TrainFunction: FunctionHandler {
    public enum Action: String, StrictAction {
        case train, status, runs, models, evaluate

        public var parameters: AcceptedKeys? {
            switch self {
            case .train, .evaluate: nil
            case .status: AcceptedKeys(["run_id"])
            case .runs: AcceptedKeys(["limit"])
            case .models: AcceptedKeys.none
            }
        }
    }

    static let routes: Router<Action> = {
        var router = Router<Action>()
        router.on("POST", "/training/", .train)
        router.on("GET", "/training/status", .status)
        router.on("GET", "/training/runs", .runs)
        router.on("GET", "/models", .models)
        return router
    }()

    private let connection = DatabaseHandle()

    public init(requireDatabase: Bool = false) throws(FunctionError) {
        try DatabaseHandle.requireConfiguration(requireDatabase, function: "train")
    }

    func database() throws(FunctionError) -> Database { try connection.get() }

    public func handle(_ event: Event, context: InvocationContext) throws(FunctionError) -> Reply {
        let input = try ActionInput(event, router: Self.routes, default: .train)
        return try perform(input.action, body: input.body, query: input.parameters.query, context: context)
    }

    private func perform(_ action: Action, body: Data, query: [String: String], context: InvocationContext) throws(FunctionError) -> Reply {
        switch action {
        case .evaluate:
            return .json(try EvaluateResult.run(try JSON.decodeRequest(EvaluateRequest.self, from: body)))
        case .train:
            let request = try JSON.decodeRequest(TrainRequest.self, from: body)
            let settings = try request.resolved()
            let storage = try ArtifactStore.fromEnvironment()
            let recorded = (try? JSONDecoder().decode(JSONValue.self, from: body)) ?? .object([:])
            return .json(try TrainingPipeline(database: try database(), store: storage, settings: settings, runID: context.requestId,
                                              request: recorded).run())
        case .status:
            let registry = Registry(database: try database())
            guard let run = try registry.run(id: query["run_id"]) else {
                // Before the first run the reference answers an idle status, not an error.
                guard let id = query["run_id"] else { return .json(IdleStatus()) }
                throw FunctionError.notFound("no training run '\(id)'")
            }
            return .json(run)
        case .runs:
            let limit = try HTTPRequest(method: "GET", path: "/", query: query).integer("limit", orDefault: 50, in: 1...1000)
            return .json(RunList(runs: try Registry(database: try database()).runs(limit: limit)))
        case .models:
            return .json(try Registry(database: try database()).models())
        }
    }

    struct RunList: Codable { var runs: [TrainingRun] }

    /// `GET /training/status` before any run: a status and no run fields.
    struct IdleStatus: Codable { var status = "idle" }
}
