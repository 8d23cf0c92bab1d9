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

    private var connection: Database?

    public init(requireDatabase: Bool = false) throws(FunctionError) {
        if requireDatabase && environment("DATABASE_URL") == nil {
            throw FunctionError.dependencyDown("DATABASE_URL is not set; the train function needs PostgreSQL")
        }
    }

    func database() throws(FunctionError) -> Database {
        if let connection, connection.isAlive { return connection }
        let database = try Database.fromEnvironment()
        try Migrations.apply(to: database)
        connection = database
        return database
    }

    public func handle(_ event: Event, context: InvocationContext) throws(FunctionError) -> Reply {
        switch event {
        case .http(let request):
            let action = try Self.routes.match(request)
            return try perform(action, body: request.body.isEmpty ? Data("{}".utf8) : request.body, query: request.query, context: context)
        case .direct(let data):
            let envelope = try JSON.decodeRequest(IngestFunction.DirectEnvelope.self, from: data)
            let name = envelope.action ?? "train"
            guard let action = Action(rawValue: name) else {
                throw FunctionError.invalidInput("unknown action '\(name)'; use one of \(Action.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var query: [String: String] = [:]
            if case .string(let id)? = envelope.parameters["run_id"] { query["run_id"] = id }
            if case .number(let n)? = envelope.parameters["limit"] { query["limit"] = String(Int(n)) }
            return try perform(action, body: data, query: query, context: context)
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
            return .json(try TrainingPipeline(database: try database(), store: storage, settings: settings, runID: context.requestId).run())
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
