/// Mirrors the registry into an MLflow tracking server (`MLFLOW_TRACKING_URI`), so that users
/// can compare runs and download models with the tools they know. PostgreSQL stays the source
/// of truth; MLflow is a copy that may lag and catches up:
///
/// - every succeeded run becomes a parent run (settings as params, data fingerprint and counts,
///   trigger and promotion decision as tags) with one child run per candidate (RMSE and MAE per
///   fold as steps, their means and deviations, ranking metrics, fit and test times), and
///   `model/model.bin`, `metrics.json` and `run.json` as artifacts;
/// - each becomes a version of the registered model `Best_Film_Recommender`, and the alias
///   `champion` follows our champion.
///
/// Mirroring never fails a training run. Each run's outcome is kept in `training_runs.mlflow`
/// (`mirrored` with the MLflow ids, or `failed` with the reason), and every later training run
/// first mirrors the runs still missing, oldest first.
public struct MLflowMirror {
    public static let defaultExperiment = "MovieRec Functions"
    let client: MLflowClient
    let experiment: String
    /// Runs mirrored per catch-up at most, so that a long outage does not stall one training run.
    var batch = 20

    init(client: MLflowClient, experiment: String = defaultExperiment) {
        self.client = client
        self.experiment = experiment
    }

    public init(trackingURI: String, experiment: String = defaultExperiment, timeout: Double = 10) {
        var client = MLflowClient(trackingURI: trackingURI, s3: Self.artifactStoreClient)
        client.timeout = timeout
        self.init(client: client, experiment: experiment)
    }

    /// nil when `MLFLOW_TRACKING_URI` is unset or empty: then there is nothing to mirror to.
    public static func fromEnvironment() -> MLflowMirror? {
        guard let uri = environment("MLFLOW_TRACKING_URI"), !uri.isEmpty else { return nil }
        let name = environment("MLFLOW_EXPERIMENT_NAME").flatMap { $0.isEmpty ? nil : $0 } ?? defaultExperiment
        return MLflowMirror(trackingURI: uri, experiment: name)
    }

    /// MLflow's own convention for an `s3://` artifact root: our credentials, its endpoint.
    static func artifactStoreClient() throws(FunctionError) -> S3Client {
        var configuration = try S3Configuration.fromEnvironment()
        if let endpoint = environment("MLFLOW_S3_ENDPOINT_URL"), !endpoint.isEmpty {
            configuration = S3Configuration(endpoint: endpoint, region: configuration.region, accessKey: configuration.accessKey,
                                            secretKey: configuration.secretKey, sessionToken: configuration.sessionToken)
        }
        return S3Client(configuration)
    }

    public struct Summary: Codable, Sendable {
        public var trackingUri: String
        public var mirrored: Int = 0
        public var failed: Int = 0
        public var error: String?
        enum CodingKeys: String, CodingKey { case trackingUri = "tracking_uri", mirrored, failed, error }
    }

    /// Mirrors the succeeded runs MLflow does not have yet, then points `champion`. Never throws:
    /// what failed is recorded on the runs it concerns, and summarised in the answer.
    @discardableResult
    public func catchUp(database: Database, store: ArtifactStore) -> Summary {
        var summary = Summary(trackingUri: client.base)
        let pending: [String]
        do {
            pending = try database.execute("""
                SELECT run_id FROM training_runs
                WHERE status = 'succeeded' AND model_version IS NOT NULL AND (mlflow IS NULL OR mlflow->>'status' <> 'mirrored')
                ORDER BY created_at LIMIT $1
                """, [batch]).map { row throws(FunctionError) in row.string(0) ?? "" }
        } catch {
            Log.warn("mlflow: cannot list the runs to mirror", ["error": .string(error.message)])
            summary.error = error.message
            return summary
        }
        let experimentID: String
        do { experimentID = try client.experimentID(named: experiment) } catch {
            record(failure: error, runs: pending, database: database)
            summary.failed = pending.count
            summary.error = error.message
            return summary
        }
        for (index, runID) in pending.enumerated() {
            do {
                try mirror(runID, experimentID: experimentID, database: database, store: store)
                summary.mirrored += 1
            } catch {
                // The server is down, slow or refusing: the rest wait for the next training run.
                record(failure: error, runs: Array(pending[index...]), database: database)
                summary.failed = pending.count - index
                summary.error = error.message
                return summary
            }
        }
        do { try pointChampion(database: database) } catch {
            Log.warn("mlflow: cannot move the champion alias", ["error": .string(error.message)])
            summary.error = "the champion alias: \(error.message)"
        }
        return summary
    }

    private func record(failure: FunctionError, runs: [String], database: Database) {
        Log.warn("mlflow: runs not mirrored; the next training run tries again", ["error": .string(failure.message), "runs": .number(Double(runs.count))])
        for runID in runs {
            _ = try? database.execute("""
                UPDATE training_runs SET mlflow = jsonb_build_object('status', 'failed', 'error', $2::text, 'tracking_uri', $3::text,
                       'attempts', coalesce((mlflow->>'attempts')::int, 0) + 1, 'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                WHERE run_id = $1
                """, [runID, failure.message, client.base])
        }
    }

    // MARK: one run

    private func mirror(_ runID: String, experimentID: String, database: Database, store: ArtifactStore) throws(FunctionError) {
        let rows = try database.execute("""
            SELECT r.parameters, r.data, r.candidates, r.best, r.decision, r.model_version, r.duration_seconds,
                   (extract(epoch FROM r.created_at) * 1000)::bigint, (extract(epoch FROM coalesce(r.finished_at, now())) * 1000)::bigint,
                   v.metrics, v.parameters, v.artifact_bucket, v.artifact_key, v.algorithm, v.variant
            FROM training_runs r JOIN model_versions v ON v.name = $2 AND v.version = r.model_version
            WHERE r.run_id = $1
            """, [runID, Registry.modelName])
        guard rows.count == 1 else { throw FunctionError.internal("run \(runID) has no registered model version") }
        let row = rows.row(0)
        let request = row.json(0) ?? .object([:]), data = row.json(1) ?? .object([:]), candidates = row.json(2)?.arrayValue ?? []
        let best = row.string(3) ?? "", decision = row.json(4) ?? .object([:]), version = row.int(5) ?? 0
        let started = Int64(row.int(7) ?? 0), finished = Int64(row.int(8) ?? 0)
        let metrics = row.json(9) ?? .object([:]), settings = row.json(10) ?? .object([:])
        let bucket = row.string(11) ?? store.bucket, modelKey = row.string(12) ?? ""
        let prefix = String(modelKey.dropLast("model.bin".count))
        let artifacts = [
            ("model/model.bin", modelKey, "application/octet-stream"),
            ("metrics.json", prefix + "metrics.json", "application/json"),
            ("run.json", prefix + "run.json", "application/json"),
        ]

        // A run half-mirrored by an earlier attempt is removed first: MLflow then holds it once.
        for stale in try client.searchRuns(experimentID: experimentID, filter: "tags.`movierec.run_id` = '\(runID)'") {
            for number in try client.modelVersions(name: Registry.modelName, runID: stale) {
                try client.deleteModelVersion(name: Registry.modelName, version: number)
            }
            try client.deleteRun(stale)
        }

        let promoted = decision["promoted"]?.boolValue ?? false
        let reason = decision["reason"]?.stringValue ?? ""
        let trigger = request["trigger"]?.stringValue ?? "manual"
        let parent = try client.createRun(experimentID: experimentID, name: "v\(version) \(best)", startTime: started, tags: [
            "movierec.run_id": runID, "movierec.trigger": trigger, "movierec.model_version": String(version), "movierec.best": best,
            "movierec.promoted": promoted ? "true" : "false", "movierec.decision": String(reason.prefix(5000)),
            "mlflow.note.content": "Trained by MovieRec Functions (\(trigger)). \(reason)",
        ])
        var params = Self.flattened(settings)
        for (key, value) in Self.flattened(data, prefix: "data.") { params[key] = value }
        params["algorithm"] = row.string(13) ?? best
        if let variant = row.string(14) { params["variant"] = variant }
        var parentMetrics = ["rmse", "mae", "holdout_rmse", "holdout_mae", "final_fit_seconds"].compactMap { key in
            metrics[key]?.numberValue.map { MLflowClient.Metric(key: key, value: $0) }
        }
        if let seconds = row.double(6) { parentMetrics.append(MLflowClient.Metric(key: "duration_seconds", value: seconds)) }
        try client.logBatch(runID: parent.id, params: params, metrics: parentMetrics, timestamp: finished)

        for candidate in candidates {
            let name = candidate["name"]?.stringValue ?? candidate["algorithm"]?.stringValue ?? "model"
            let child = try client.createRun(experimentID: experimentID, name: name, startTime: started, tags: [
                "mlflow.parentRunId": parent.id, "movierec.run_id": runID,
                "movierec.algorithm": candidate["algorithm"]?.stringValue ?? "", "movierec.best": candidate["algorithm"]?.stringValue == best ? "true" : "false",
            ])
            try client.logBatch(runID: child.id, params: Self.candidateParams(candidate, settings: settings),
                                metrics: Self.candidateMetrics(candidate), timestamp: finished)
            try client.finishRun(child.id, endTime: finished)
        }

        for (path, key, contentType) in artifacts {
            try client.uploadArtifact(try store.client.get(bucket: bucket, key: key), run: parent, path: path, contentType: contentType)
        }
        try client.ensureRegisteredModel(Registry.modelName, description: "Mirrored from the MovieRec Functions registry in PostgreSQL, its source of truth.")
        let mlflowVersion = try client.createModelVersion(name: Registry.modelName, source: parent.artifactURI + "/model", runID: parent.id,
                                                          tags: ["movierec.version": String(version), "movierec.run_id": runID],
                                                          description: "MovieRec v\(version): \(best), s3://\(bucket)/\(modelKey)")
        try client.finishRun(parent.id, endTime: finished)
        try database.execute("""
            UPDATE training_runs SET mlflow = jsonb_build_object('status', 'mirrored', 'run_id', $2::text, 'experiment_id', $3::text,
                   'model_version', $4::text, 'tracking_uri', $5::text, 'url', $6::text,
                   'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            WHERE run_id = $1
            """, [runID, parent.id, experimentID, mlflowVersion, client.base, "\(client.base)/#/experiments/\(experimentID)/runs/\(parent.id)"])
        Log.info("mlflow: run mirrored", ["run_id": .string(runID), "mlflow_run_id": .string(parent.id), "model_version": .string(mlflowVersion)])
    }

    /// `champion` on the MLflow version mirrored from our champion.
    private func pointChampion(database: Database) throws(FunctionError) {
        guard let champion = try Registry(database: database).champion() else { return }
        let mirrored = try database.execute("""
            SELECT mlflow->>'model_version' FROM training_runs WHERE model_version = $1 AND mlflow->>'status' = 'mirrored'
            """, [champion.version])
        guard let version = mirrored.string(0, 0) else { return }
        try client.setAlias(name: Registry.modelName, alias: Registry.championAlias, version: version)
    }

    // MARK: shapes

    /// Nested settings as MLflow params: `svd.n_factors` = "100".
    static func flattened(_ value: JSONValue, prefix: String = "") -> [String: String] {
        var out: [String: String] = [:]
        switch value {
        case .object(let fields):
            for (key, field) in fields { for (k, v) in flattened(field, prefix: prefix + key + ".") { out[k] = v } }
        case .array(let items):
            out[String(prefix.dropLast())] = items.map { item in
                if case .string(let s) = item { return s }
                return JSON.encodeString(item)
            }.joined(separator: ",")
        case .string(let text): out[String(prefix.dropLast())] = text
        case .null: break
        default: out[String(prefix.dropLast())] = JSON.encodeString(value)
        }
        return out
    }

    static func candidateParams(_ candidate: JSONValue, settings: JSONValue) -> [String: String] {
        var params = ["algorithm": candidate["algorithm"]?.stringValue ?? ""]
        if let variant = candidate["variant"]?.stringValue { params["variant"] = variant }
        for key in ["folds", "seed"] { if let value = settings[key] { params[key] = JSON.encodeString(value) } }
        // The model's own hyper-parameters: SVD's for svd, KNN's for knn.
        if let algorithm = candidate["algorithm"]?.stringValue, let own = settings[algorithm] {
            for (key, value) in flattened(own, prefix: algorithm + ".") { params[key] = value }
        }
        return params
    }

    static func candidateMetrics(_ candidate: JSONValue) -> [MLflowClient.Metric] {
        var metrics: [MLflowClient.Metric] = []
        for (step, fold) in (candidate["folds"]?.arrayValue ?? []).enumerated() {
            for key in ["rmse", "mae", "fit_seconds", "test_seconds"] {
                if let value = fold[key]?.numberValue { metrics.append(.init(key: key, value: value, step: step)) }
            }
        }
        for key in ["rmse_mean", "rmse_std", "mae_mean", "mae_std", "fit_seconds_mean", "test_seconds_mean"] {
            if let value = candidate[key]?.numberValue { metrics.append(.init(key: key, value: value)) }
        }
        for (key, value) in candidate["ranking"]?.objectValue ?? [:] {
            if let number = value.numberValue { metrics.append(.init(key: "ranking.\(key)", value: number)) }
        }
        return metrics
    }
}
