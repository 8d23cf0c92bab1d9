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
            let running = try database.execute("SELECT run_id FROM training_runs WHERE status = 'running' ORDER BY created_at DESC LIMIT 1").string(0, 0)
            let message = "a training run is already in progress\(running.map { " (run \($0))" } ?? ""); one runs at a time"
            // A queued run that finds another training is over: it must not wait in the queue.
            TrainingQueue(database: database).fail(runID: runID, reason: message)
            throw FunctionError.conflict(message, details: running.map { ["run_id": .string($0)] } ?? [:])
        }
        defer { _ = try? database.advisoryUnlock(Migrations.LockKey.training) }
        // Holding the lock: any other run still marked running belongs to a process that died,
        // and a queued one older than the Event's age limit was lost.
        try database.execute("""
            UPDATE training_runs SET status = 'failed', finished_at = now(),
                   error = 'abandoned: the training process ended before finishing; the champion was not changed'
            WHERE run_id <> $1 AND (status = 'running' OR (status = 'queued' AND created_at < now() - interval '\(TrainingQueue.queuedLifetime)'))
            """, [runID])
        switch try database.execute("SELECT status FROM training_runs WHERE run_id = $1", [runID]).string(0, 0) {
        case nil:
            try database.execute("""
                INSERT INTO training_runs (run_id, status, stage, parameters, started_at) VALUES ($1, 'running', 'loading ratings', $2::jsonb, now())
                """, [runID, request])
        case "queued":
            try database.execute("UPDATE training_runs SET status = 'running', stage = 'loading ratings', started_at = now() WHERE run_id = $1", [runID])
        default:
            throw FunctionError.conflict("run \(runID) already exists")
        }
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
        Log.info("training progress", ["run_id": .string(runID), "stage": .string(stage), "percent": .number((fraction * 1000).rounded() / 10),
                                       "rss_mb": .number(Double(residentMegabytes()))])
    }

    private func execute(started: Double) throws(FunctionError) {
        let (all, fingerprint) = try RatingLoader.load(database)
        let data = RatingLoader.filter(all, minUserRatings: settings.minUserRatings, minMovieRatings: settings.minMovieRatings,
                                       sampleSize: settings.sampleSize, seed: settings.seed)
        guard data.count >= max(settings.folds * 2, 10) else {
            throw FunctionError.conflict("only \(data.count) ratings to train on; import data first (POST /ingest)")
        }
        let dataJSON: JSONValue = .object(["ratings": .number(Double(data.count)), "users": .number(Double(data.userCount)),
                                           "movies": .number(Double(data.itemCount)), "max_timestamp": .number(Double(fingerprint.maxTimestamp)),
                                           "hash": .string(fingerprint.hash), "all_ratings": .number(Double(fingerprint.ratings))])
        try database.execute("UPDATE training_runs SET data = $2::jsonb WHERE run_id = $1", [runID, dataJSON])

        let kfold = KFold(folds: settings.folds, seed: settings.seed)
        try progress("splitting \(settings.folds) folds", 0.05, started: started)
        let folds = kfold.folds(of: data)
        // Folds outside, candidates inside: one fold in memory at a time, every candidate on it.
        var results = [[FoldResult]](repeating: [], count: settings.algorithms.count)
        var variants = [String?](repeating: nil, count: settings.algorithms.count)
        var rankings = [RankingMetrics?](repeating: nil, count: settings.algorithms.count)
        var foldZeroModels: [Algorithm: TrainedModel] = [:]
        var foldZero: (train: RatingData, test: [TestRating])?
        let steps = Double(settings.algorithms.count * settings.folds)
        var step = 0.0
        for index in 0..<folds.count {
            let fold = folds.fold(index)
            for (position, algorithm) in settings.algorithms.enumerated() {
                try progress("cross-validating \(algorithm.displayName), fold \(index + 1) of \(settings.folds)", 0.05 + 0.7 * step / steps, started: started)
                let fitStart = monotonicSeconds()
                let model = TrainedModel.fit(algorithm, data: fold.train, svd: settings.svd, knn: settings.knn, seed: settings.seed)
                let testStart = monotonicSeconds()
                let metrics = AccuracyMetrics.of(model.predict(fold.test, seed: settings.seed), truth: fold.test)
                results[position].append(FoldResult(fold: index, rmse: metrics.rmse, mae: metrics.mae, impossible: metrics.impossible,
                                                    fitSeconds: testStart - fitStart, testSeconds: monotonicSeconds() - testStart))
                variants[position] = model.variant
                releaseFreedMemory()
                if index == 0 {
                    if settings.rankingUsers > 0 {
                        rankings[position] = RankingMetrics.evaluate(model, train: fold.train, test: fold.test, sampleUsers: settings.rankingUsers, seed: settings.seed)
                    }
                    foldZeroModels[algorithm] = model
                }
                step += 1
            }
            if index == 0 { foldZero = fold }
        }
        guard let foldZero else { throw FunctionError.internal("no fold was evaluated") }
        var candidates: [CandidateResult] = []
        for (position, algorithm) in settings.algorithms.enumerated() {
            var candidate = Self.summarise(algorithm, variant: variants[position], results[position])
            candidate.ranking = rankings[position]
            candidates.append(candidate)
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
        guard let challengerModel = foldZeroModels[best] else { throw FunctionError.internal("the best candidate has no fold model") }
        let challengerFold = AccuracyMetrics.of(challengerModel.predict(foldZero.test, seed: settings.seed), truth: foldZero.test)
        let decision = try decide(challengerModel: challengerModel, algorithm: best, registry: registry, fold: foldZero)
        foldZeroModels.removeAll()

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
                                   "metric": .string(settings.metric), "svd": try jsonValue(settings.svd), "knn": try jsonValue(settings.knn),
                                   "models": .array(settings.algorithms.map { .string($0.rawValue) }), "force": .bool(settings.force),
                                   "min_user_ratings": .number(Double(settings.minUserRatings)),
                                   "min_movie_ratings": .number(Double(settings.minMovieRatings)),
                                   "sample_size": settings.sampleSize.map { .number(Double($0)) } ?? .null,
                                   "ranking_users": .number(Double(settings.rankingUsers)), "trigger": .string(settings.trigger)]),
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

    /// Promotion is judged on data neither side has an advantage on. When enough ratings arrived
    /// after the champion's training data (by timestamp) and sit in the held-out fold, both the
    /// champion artifact and the challenger predict exactly those. Otherwise the champion's
    /// configuration is refitted on the challenger's training fold and both predict the same
    /// held-out fold: configuration against configuration, same data.
    private func decide(challengerModel: TrainedModel, algorithm: Algorithm, registry: Registry, fold: (train: RatingData, test: [TestRating])) throws(FunctionError) -> Decision {
        let value: (AccuracyMetrics) -> Double = { settings.metric == "mae" ? $0.mae : $0.rmse }
        let name = settings.metric.uppercased()
        func metric(_ m: AccuracyMetrics, _ version: Int?, _ algorithm: String) -> Decision.Metric {
            Decision.Metric(version: version, algorithm: algorithm, rmse: m.rmse, mae: m.mae)
        }
        guard let champion = try registry.champion() else {
            let mine = AccuracyMetrics.of(challengerModel.predict(fold.test, seed: settings.seed), truth: fold.test)
            return Decision(promoted: true, reason: "no champion yet: the best candidate becomes the champion",
                            challenger: metric(mine, nil, algorithm.rawValue), champion: nil)
        }
        let loaded = loadChampion(champion)
        guard case .success(let championModel) = loaded else {
            let mine = AccuracyMetrics.of(challengerModel.predict(fold.test, seed: settings.seed), truth: fold.test)
            let why = if case .failure(let error) = loaded { error.message } else { "" }
            return Decision(promoted: true, reason: "the champion v\(champion.version) could not be read (\(why)): the challenger replaces it",
                            challenger: metric(mine, nil, algorithm.rawValue), champion: nil)
        }
        let championSeen = Int64(champion.data?["max_timestamp"].flatMap { if case .number(let n) = $0 { return n } else { return nil } } ?? 0)
        let fresh = fold.test.filter { $0.timestamp > championSeen }
        let mine: AccuracyMetrics, theirs: AccuracyMetrics, basis: String
        if fresh.count >= Self.freshRatingsForComparison {
            mine = AccuracyMetrics.of(challengerModel.predict(fresh, seed: settings.seed), truth: fresh)
            theirs = AccuracyMetrics.of(championModel.predict(fresh, seed: settings.seed), truth: fresh)
            basis = "on the \(fresh.count) held-out ratings newer than the champion's training data (neither model saw them)"
        } else {
            let refit = Self.refit(championModel, on: fold.train, settings: settings)
            mine = AccuracyMetrics.of(challengerModel.predict(fold.test, seed: settings.seed), truth: fold.test)
            theirs = AccuracyMetrics.of(refit.predict(fold.test, seed: settings.seed), truth: fold.test)
            basis = "with the champion's configuration refitted on the same training fold and both tested on the same \(fold.test.count) held-out ratings (only \(fresh.count) ratings are newer than the champion)"
        }
        let challenger = metric(mine, nil, algorithm.rawValue), defender = metric(theirs, champion.version, champion.algorithm)
        let comparison = "challenger \(name) \(Self.format(value(mine))) vs champion v\(champion.version) \(Self.format(value(theirs))) \(basis)"
        if value(mine) < value(theirs) { return Decision(promoted: true, reason: "promoted: \(comparison)", challenger: challenger, champion: defender) }
        if settings.force { return Decision(promoted: true, reason: "promoted by force: \(comparison)", challenger: challenger, champion: defender) }
        return Decision(promoted: false, reason: "kept the champion: \(comparison); force: true promotes anyway", challenger: challenger, champion: defender)
    }

    /// The champion's algorithm and parameters fitted on other data. (Kept out of line: inlined
    /// into `decide`, Swift 6.3's optimiser crashed on it.)
    @inline(never)
    static func refit(_ champion: TrainedModel, on data: RatingData, settings: TrainRequest.Resolved) -> TrainedModel {
        TrainedModel.fit(champion.algorithm, data: data, svd: champion.svdParameters ?? settings.svd,
                         knn: champion.knnParameters ?? settings.knn, seed: settings.seed, scale: champion.scale)
    }

    private func loadChampion(_ champion: ModelVersion) -> Result<TrainedModel, FunctionError> {
        Result { () throws(FunctionError) -> TrainedModel in
            let bucket = champion.artifact.dropFirst(5).split(separator: "/").first.map(String.init) ?? store.bucket
            return try ModelFile.decode(try store.client.get(bucket: bucket, key: champion.artifactKey)).0
        }
    }

    /// Fewer new ratings than this are too few to judge on; the configurations are compared instead.
    static let freshRatingsForComparison = 200

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

/// Hands memory freed by a finished fit back to the system. glibc keeps freed blocks in the
/// worker threads' arenas (and raises its mmap threshold after large frees), so without this
/// the process keeps each fold's peak: 3.4 GB instead of 2 on MovieLens-20M.
func releaseFreedMemory() {
    #if os(Linux)
    _ = glibcMallocTrim(0)
    #endif
}

#if os(Linux)
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif

func encoded(_ value: JSONValue) throws(FunctionError) -> Data {
    do { return try JSON.encode(value, pretty: true) } catch { throw .internal("cannot encode: \(error)") }
}

func jsonValue<T: Encodable>(_ value: T) throws(FunctionError) -> JSONValue {
    do { return try JSONDecoder().decode(JSONValue.self, from: try JSON.encode(value)) } catch { throw .internal("cannot encode: \(error)") }
}
