/// The train function: routes and direct actions onto the training pipeline and the registry.
public final class TrainFunction: FunctionHandler {
    public enum Action: String, Sendable, CaseIterable {
        case train, status, runs, models, evaluate
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
        switch event {
        case .http(let request):
            let action = try Self.routes.match(request)
            return try perform(action, body: request.body.isEmpty ? Data("{}".utf8) : request.body, query: request.query, context: context)
        case .direct(let data):
            let event = try DirectEvent.parse(data)
            return try perform(try event.action(Action.self, default: .train), body: data, query: event.query, context: context)
        }
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
                throw query["run_id"] == nil ? FunctionError.notFound("no training run yet; start one with POST /training/")
                                             : FunctionError.notFound("no training run '\(query["run_id"] ?? "")'")
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
}
