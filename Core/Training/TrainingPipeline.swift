/// One training run: load every rating, cross-validate each candidate on the same folds, pick
/// the best, compare it with the champion on the same held-out data, fit it on everything,
/// write the artifacts, register the version and promote it when it earned it.
public struct TrainingPipeline {
    let database: Database
    let store: ArtifactStore
    let settings: TrainRequest.Resolved
    let runID: String
    let request: JSONValue

    public init(database: Database, store: ArtifactStore, settings: TrainRequest.Resolved, runID: String, request: JSONValue = .object([:])) {
        self.database = database
        self.store = store
        self.settings = settings
        self.runID = runID
        self.request = request
    }

    struct CandidateResult: Codable {
        var algorithm: String
        var name: String
        var variant: String?
        var folds: [FoldResult]
        var rmseMean: Double, rmseStd: Double, maeMean: Double, maeStd: Double
        var fitSecondsMean: Double, testSecondsMean: Double
        var ranking: RankingMetrics?
        enum CodingKeys: String, CodingKey {
            case algorithm, name, variant, folds, ranking
            case rmseMean = "rmse_mean", rmseStd = "rmse_std", maeMean = "mae_mean", maeStd = "mae_std"
            case fitSecondsMean = "fit_seconds_mean", testSecondsMean = "test_seconds_mean"
        }
    }

    struct FoldResult: Codable {
        var fold: Int, rmse: Double, mae: Double, impossible: Int, fitSeconds: Double, testSeconds: Double
        enum CodingKeys: String, CodingKey { case fold, rmse, mae, impossible, fitSeconds = "fit_seconds", testSeconds = "test_seconds" }
    }

    struct Decision: Codable {
        var promoted: Bool
        var reason: String
        var challenger: Metric
        var champion: Metric?
        struct Metric: Codable { var version: Int?; var algorithm: String; var rmse: Double; var mae: Double }
    }

    /// Runs to the end and returns the finished run record.
    public func run() throws(FunctionError) -> TrainingRun {
        guard try database.tryAdvisoryLock(Migrations.LockKey.training) else {
            let running = try database.execute("SELECT run_id FROM training_runs WHERE status IN ('queued', 'running') ORDER BY created_at DESC LIMIT 1").string(0, 0)
            throw FunctionError.conflict("a training run is already in progress\(running.map { " (run \($0))" } ?? ""); one runs at a time",
                                         details: running.map { ["run_id": .string($0)] } ?? [:])
        }
        defer { _ = try? database.advisoryUnlock(Migrations.LockKey.training) }
        // Holding the lock: any run still marked running belongs to a process that died.
        try database.execute("""
            UPDATE training_runs SET status = 'failed', finished_at = now(),
                   error = 'abandoned: the training process ended before finishing; the champion was not changed'
            WHERE status IN ('queued', 'running')
            """)
        let exists = try database.execute("SELECT 1 FROM training_runs WHERE run_id = $1", [runID]).count > 0
        guard !exists else { throw FunctionError.conflict("run \(runID) already exists") }
        try database.execute("""
            INSERT INTO training_runs (run_id, status, stage, parameters, started_at) VALUES ($1, 'running', 'loading ratings', $2::jsonb, now())
            """, [runID, request])
        let started = monotonicSeconds()
        do {
            try execute(started: started)
        } catch {
            _ = try? database.execute("""
                UPDATE training_runs SET status = 'failed', error = $2, finished_at = now(), duration_seconds = $3, eta_seconds = NULL WHERE run_id = $1
                """, [runID, error.message, monotonicSeconds() - started])
            var failure = error
            failure.details["run_id"] = .string(runID)
            throw failure
        }
        guard let finished = try Registry(database: database).run(id: runID) else { throw FunctionError.internal("run \(runID) vanished") }
        return finished
    }

    private func progress(_ stage: String, _ fraction: Double, started: Double) throws(FunctionError) {
        let elapsed = monotonicSeconds() - started
        let eta: Double? = fraction > 0.02 ? elapsed / fraction * (1 - fraction) : nil
        try database.execute("UPDATE training_runs SET stage = $2, progress = $3, eta_seconds = $4 WHERE run_id = $1",
                             [runID, stage, (fraction * 1000).rounded() / 10, eta])
        Log.info("training progress", ["run_id": .string(runID), "stage": .string(stage), "percent": .number((fraction * 1000).rounded() / 10)])
    }

    private func execute(started: Double) throws(FunctionError) {
        let (all, fingerprint) = try RatingLoader.load(database)
        let data = RatingLoader.filter(all, minUserRatings: 0, minMovieRatings: 0, sampleSize: nil, seed: settings.seed)
        guard data.count >= max(settings.folds * 2, 10) else {
            throw FunctionError.conflict("only \(data.count) ratings to train on; import data first (POST /ingest)")
        }
        let dataJSON: JSONValue = .object(["ratings": .number(Double(data.count)), "users": .number(Double(data.userCount)),
                                           "movies": .number(Double(data.itemCount)), "max_timestamp": .number(Double(fingerprint.maxTimestamp)),
                                           "hash": .string(fingerprint.hash), "all_ratings": .number(Double(fingerprint.ratings))])
        try database.execute("UPDATE training_runs SET data = $2::jsonb WHERE run_id = $1", [runID, dataJSON])

        let kfold = KFold(folds: settings.folds, seed: settings.seed)
        try progress("splitting \(settings.folds) folds", 0.05, started: started)
        let folds = kfold.split(data)
        var candidates: [CandidateResult] = []
        var foldZeroModels: [Algorithm: TrainedModel] = [:]
        let steps = Double(settings.algorithms.count * settings.folds)
        var step = 0.0
        for algorithm in settings.algorithms {
            var results: [FoldResult] = []
            var variant: String?
            for (index, fold) in folds.enumerated() {
                try progress("cross-validating \(algorithm.displayName), fold \(index + 1) of \(settings.folds)", 0.05 + 0.65 * step / steps, started: started)
                let fitStart = monotonicSeconds()
                let model = TrainedModel.fit(algorithm, data: fold.train, svd: settings.svd, knn: settings.knn, seed: settings.seed)
                let testStart = monotonicSeconds()
                let metrics = AccuracyMetrics.of(model.predict(fold.test, seed: settings.seed), truth: fold.test)
                results.append(FoldResult(fold: index, rmse: metrics.rmse, mae: metrics.mae, impossible: metrics.impossible,
                                          fitSeconds: testStart - fitStart, testSeconds: monotonicSeconds() - testStart))
                variant = model.variant
                if index == 0 { foldZeroModels[algorithm] = model }
                step += 1
            }
            candidates.append(Self.summarise(algorithm, variant: variant, results))
        }
        try progress("ranking metrics on held-out data", 0.72, started: started)
        for index in candidates.indices {
            let algorithm = settings.algorithms[index]
            if settings.rankingUsers > 0, let model = foldZeroModels[algorithm] {
                candidates[index].ranking = RankingMetrics.evaluate(model, train: folds[0].train, test: folds[0].test,
                                                                    sampleUsers: settings.rankingUsers, seed: settings.seed)
            }
        }
        let score: (CandidateResult) -> Double = { settings.metric == "mae" ? $0.maeMean : $0.rmseMean }
        guard let bestIndex = candidates.indices.min(by: { score(candidates[$0]) < score(candidates[$1]) }) else {
            throw FunctionError.internal("no candidate was evaluated")
        }
        let best = settings.algorithms[bestIndex]
        try database.execute("UPDATE training_runs SET candidates = $2::jsonb, best = $3 WHERE run_id = $1",
                             [runID, try jsonValue(candidates), best.rawValue])

        // A fair comparison: challenger and champion predict the same held-out ratings (fold 1's test set).
        try progress("comparing with the champion", 0.75, started: started)
        let registry = Registry(database: database)
        let challengerFold = AccuracyMetrics.of(foldZeroModels[best]!.predict(folds[0].test, seed: settings.seed), truth: folds[0].test)
        let decision = try decide(challenger: challengerFold, algorithm: best, registry: registry, test: folds[0].test)

        try progress("fitting \(best.displayName) on all \(data.count) ratings", 0.78, started: started)
        let fitStart = monotonicSeconds()
        let final = TrainedModel.fit(best, data: data, svd: settings.svd, knn: settings.knn, seed: settings.seed)
        let finalFitSeconds = monotonicSeconds() - fitStart

        try progress("writing artifacts", 0.95, started: started)
        let version = try registry.nextVersion()
        let prefix = "models/\(Registry.modelName)/v\(version)/"
        let metrics: JSONValue = .object([
            "metric": .string(settings.metric), "best": .string(best.rawValue),
            "rmse": .number(candidates[bestIndex].rmseMean), "mae": .number(candidates[bestIndex].maeMean),
            "holdout_rmse": .number(challengerFold.rmse), "holdout_mae": .number(challengerFold.mae),
            "ranking": (try? jsonValue(candidates[bestIndex].ranking)) ?? .null,
            "candidates": try jsonValue(candidates), "final_fit_seconds": .number(finalFitSeconds),
        ])
        let popularity = ModelFile.Popularity.compute(data)
        let modelBytes = try ModelFile.encode(final, popularity: popularity, trainedRatings: data.count,
                                              extra: ["run_id": .string(runID), "version": .number(Double(version))])
        var checksum = ContentHash()
        modelBytes.withUnsafeBytes { checksum.update($0) }
        let runDocument: JSONValue = .object([
            "run_id": .string(runID), "version": .number(Double(version)), "request": request,
            "parameters": .object(["folds": .number(Double(settings.folds)), "seed": .number(Double(settings.seed)),
                                   "metric": .string(settings.metric), "svd": try jsonValue(settings.svd), "knn": try jsonValue(settings.knn)]),
            "data": dataJSON, "decision": try jsonValue(decision),
        ])
        // Artifacts first; the registry row and the champion pointer only after they are all written.
        try store.put(modelBytes, key: prefix + "model.bin", contentType: "application/octet-stream")
        try store.put(try encoded(metrics), key: prefix + "metrics.json", contentType: "application/json")
        try store.put(try encoded(runDocument), key: prefix + "run.json", contentType: "application/json")

        let entry = ModelVersion(name: Registry.modelName, version: version, algorithm: best.rawValue, variant: final.variant, runId: runID,
                                 metrics: metrics, parameters: runDocument["parameters"], data: dataJSON, artifact: store.url(prefix + "model.bin"),
                                 artifactKey: prefix + "model.bin", artifactSize: modelBytes.count, artifactChecksum: checksum.hex,
                                 createdAt: nil, aliases: [])
        try registry.register(entry, bucket: store.bucket, promote: decision.promoted)
        try database.execute("""
            UPDATE training_runs SET status = 'succeeded', stage = 'done', progress = 100, eta_seconds = 0, decision = $2::jsonb,
                   model_version = $3, finished_at = now(), duration_seconds = $4 WHERE run_id = $1
            """, [runID, try jsonValue(decision), version, monotonicSeconds() - started])
    }

    private func decide(challenger: AccuracyMetrics, algorithm: Algorithm, registry: Registry, test: [TestRating]) throws(FunctionError) -> Decision {
        let mine = Decision.Metric(version: nil, algorithm: algorithm.rawValue, rmse: challenger.rmse, mae: challenger.mae)
        let value: (Decision.Metric) -> Double = { settings.metric == "mae" ? $0.mae : $0.rmse }
        guard let champion = try registry.champion() else {
            return Decision(promoted: true, reason: "no champion yet: the best candidate becomes the champion", challenger: mine, champion: nil)
        }
        let theirs: Decision.Metric
        do {
            let bytes = try store.client.get(bucket: champion.artifact.dropFirst(5).split(separator: "/").first.map(String.init) ?? store.bucket,
                                             key: champion.artifactKey)
            let (model, _, _) = try ModelFile.decode(bytes)
            let metrics = AccuracyMetrics.of(model.predict(test, seed: settings.seed), truth: test)
            theirs = Decision.Metric(version: champion.version, algorithm: champion.algorithm, rmse: metrics.rmse, mae: metrics.mae)
        } catch {
            let reason = "the champion v\(champion.version) could not be evaluated (\(error.message)): the challenger replaces it"
            return Decision(promoted: true, reason: reason, challenger: mine, champion: nil)
        }
        let name = settings.metric.uppercased()
        let better = value(mine) < value(theirs)
        let comparison = "challenger \(name) \(Self.format(value(mine))) vs champion v\(champion.version) \(Self.format(value(theirs))) on the same \(test.count) held-out ratings"
        if better { return Decision(promoted: true, reason: "promoted: \(comparison)", challenger: mine, champion: theirs) }
        if settings.force { return Decision(promoted: true, reason: "promoted by force: \(comparison)", challenger: mine, champion: theirs) }
        return Decision(promoted: false, reason: "kept the champion: \(comparison) (the champion may have seen some of these ratings in training, which favours it; force: true promotes anyway)",
                        challenger: mine, champion: theirs)
    }

    static func summarise(_ algorithm: Algorithm, variant: String?, _ folds: [FoldResult]) -> CandidateResult {
        func meanStd(_ values: [Double]) -> (Double, Double) {
            let mean = values.reduce(0, +) / Double(max(values.count, 1))
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count, 1))
            return (mean, variance.squareRoot())
        }
        let rmse = meanStd(folds.map(\.rmse)), mae = meanStd(folds.map(\.mae))
        return CandidateResult(algorithm: algorithm.rawValue, name: algorithm.displayName, variant: variant, folds: folds,
                               rmseMean: rmse.0, rmseStd: rmse.1, maeMean: mae.0, maeStd: mae.1,
                               fitSecondsMean: meanStd(folds.map(\.fitSeconds)).0, testSecondsMean: meanStd(folds.map(\.testSeconds)).0, ranking: nil)
    }

    static func format(_ value: Double) -> String { String(Double(Int((value * 10_000).rounded())) / 10_000) }
}

func encoded(_ value: JSONValue) throws(FunctionError) -> Data {
    do { return try JSON.encode(value, pretty: true) } catch { throw .internal("cannot encode: \(error)") }
}

func jsonValue<T: Encodable>(_ value: T) throws(FunctionError) -> JSONValue {
    do { return try JSONDecoder().decode(JSONValue.self, from: try JSON.encode(value)) } catch { throw .internal("cannot encode: \(error)") }
}
