/// The train function: routes and direct actions onto the training pipeline and the registry.
public final class TrainFunction: FunctionHandler {
    public enum Action: String, StrictAction {
        /// `submit` queues a run and answers 202 (`POST /training/`); `run` trains a queued run
        /// (the Event invocation `submit` sends); `train` trains at once and answers when done
        /// (the nightly pipeline, the command line).
        /// `mirror` copies into MLflow the runs it does not have yet (the runner calls it once
        /// its MLflow server is up).
        case train, submit, run, status, runs, models, evaluate, mirror

        public var parameters: AcceptedKeys? {
            switch self {
            case .train, .submit, .evaluate: nil
            case .status, .run: AcceptedKeys(["run_id"])
            case .runs: AcceptedKeys(["limit"])
            case .models, .mirror: AcceptedKeys.none
            }
        }
    }

    static let routes: Router<Action> = {
        var router = Router<Action>()
        router.on("POST", "/training/", .submit)
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
            let settings = try JSON.decodeRequest(TrainRequest.self, from: body).resolved()
            let recorded = (try? JSONDecoder().decode(JSONValue.self, from: body)) ?? .object([:])
            return Self.finished(try train(settings: settings, runID: context.requestId, request: recorded), trigger: "direct")
        case .submit:
            // Checked in full before anything is queued: a bad request is a 400 now, not a failed run later.
            _ = try JSON.decodeRequest(TrainRequest.self, from: body).resolved()
            guard let function = environment("AWS_LAMBDA_FUNCTION_NAME") else {
                throw FunctionError.dependencyDown("""
                    POST /training/ hands the run to this function through the Lambda Invoke API, so it needs AWS_LAMBDA_FUNCTION_NAME \
                    (set by Lambda and by the local runner); outside them, train at once with {"action": "train"}
                    """)
            }
            let queue = TrainingQueue(database: try database())
            let runID = context.requestId
            var recorded = (try? JSONDecoder().decode(JSONValue.self, from: body))?.objectValue ?? [:]
            recorded["trigger"] = .string("api")
            try queue.enqueue(runID: runID, request: .object(recorded))
            do throws(FunctionError) {
                let payload = Data(JSON.encodeString(QueuedRun(runId: runID)).utf8)
                try LambdaClient.fromEnvironment().invokeAsynchronously(function, payload: payload)
            } catch {
                queue.fail(runID: runID, reason: "not started: \(error.message)")
                throw error
            }
            var reply = Reply.json(Submitted(runId: runID), status: 202)
            reply.metrics = [EmbeddedMetric("TrainingRuns", 1, dimensions: ["Trigger": "api"])]
            return reply
        case .run:
            guard let runID = query["run_id"] else { throw FunctionError.invalidInput("run needs the run_id of a queued run") }
            let queue = TrainingQueue(database: try database())
            let recorded = try queue.queuedRequest(runID: runID)
            let settings: TrainRequest.Resolved
            do {
                settings = try JSON.decodeRequest(TrainRequest.self, from: Data(JSON.encodeString(recorded).utf8)).resolved()
            } catch {
                queue.fail(runID: runID, reason: error.message)
                throw error
            }
            return Self.finished(try train(settings: settings, runID: runID, request: recorded), trigger: nil)
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
        case .mirror:
            guard let mirror = MLflowMirror.fromEnvironment() else {
                throw FunctionError.invalidInput("MLFLOW_TRACKING_URI is not set: there is no MLflow server to mirror to")
            }
            return .json(mirror.catchUp(database: try database(), store: try ArtifactStore.fromEnvironment()))
        }
    }

    /// Trains, then mirrors into MLflow (when configured) this run and any the mirror missed;
    /// the answer is the run record with what MLflow now holds of it.
    private func train(settings: TrainRequest.Resolved, runID: String, request: JSONValue) throws(FunctionError) -> TrainingRun {
        let database = try database(), store = try ArtifactStore.fromEnvironment()
        let run = try TrainingPipeline(database: database, store: store, settings: settings, runID: runID, request: request).run()
        guard let mirror = MLflowMirror.fromEnvironment() else { return run }
        mirror.catchUp(database: database, store: store)
        return (try? Registry(database: database).run(id: runID)) ?? run
    }

    struct RunList: Codable { var runs: [TrainingRun] }

    /// A finished run's answer, with the runner's `training_runs_total` (counted at the start:
    /// a queued run was counted when it was submitted) and how long it trained.
    static func finished(_ run: TrainingRun, trigger: String?) -> Reply {
        var reply = Reply.json(run)
        if let trigger { reply.metrics.append(EmbeddedMetric("TrainingRuns", 1, dimensions: ["Trigger": trigger])) }
        reply.metrics.append(EmbeddedMetric("TrainingSeconds", run.durationSeconds ?? 0, unit: .seconds))
        reply.metrics.append(EmbeddedMetric("ModelsPromoted", run.decision?["promoted"] == .bool(true) ? 1 : 0))
        return reply
    }

    /// The Event a submitted run is handed over with.
    struct QueuedRun: Codable {
        var action = "run"
        var runId: String
        enum CodingKeys: String, CodingKey { case action, runId = "run_id" }
    }

    /// `POST /training/`'s 202.
    struct Submitted: Codable {
        var runId: String
        var status = "queued"
        var statusUrl: String
        init(runId: String) { self.runId = runId; statusUrl = "/training/status?run_id=\(runId)" }
        enum CodingKeys: String, CodingKey { case runId = "run_id", status, statusUrl = "status_url" }
    }

    /// `GET /training/status` before any run: a status and no run fields.
    struct IdleStatus: Codable { var status = "idle" }
}
