/// `POST /training/` and `{"action": "train", ...}`: what to train and how to judge it.
public struct TrainRequest: Codable, Sendable, StrictRequest {
    /// Promote the best candidate even when it does not beat the champion.
    public var force: Bool?
    /// Candidates; default all three.
    public var models: [String]?
    public var folds: Int?
    public var seed: UInt64?
    /// "rmse" (default) or "mae".
    public var metric: String?
    public var minUserRatings: Int?
    public var minMovieRatings: Int?
    /// Train on a seeded random sample of this many ratings (default: all of them).
    public var sampleSize: Int?
    public var svd: SVDParameters?
    public var knn: KNNParameters?
    /// Users sampled for precision/recall/NDCG@10.
    public var rankingUsers: Int?
    /// What started the run: "manual" (default), "nightly" (the schedule) or "api" (set by
    /// `POST /training/`). Recorded with the run and in MLflow.
    public var trigger: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case force, models, folds, seed, metric, svd, knn, trigger
        case minUserRatings = "min_user_ratings", minMovieRatings = "min_movie_ratings"
        case sampleSize = "sample_size", rankingUsers = "ranking_users"
    }
    /// The model parameters are checked as strictly as the request itself.
    static let modelParameters = ["svd": AcceptedKeys(SVDParameters.CodingKeys.self), "knn": AcceptedKeys(KNNParameters.CodingKeys.self)]
    public static let accepted = AcceptedKeys(CodingKeys.self, nested: modelParameters)

    public init() {}

    public struct Resolved: Sendable {
        public var algorithms: [Algorithm]
        public var folds: Int
        public var seed: UInt64
        public var metric: String
        public var svd: SVDParameters
        public var knn: KNNParameters
        public var force: Bool
        public var rankingUsers: Int
        public var minUserRatings: Int
        public var minMovieRatings: Int
        public var sampleSize: Int?
        public var trigger: String
    }

    public static let triggers = ["manual", "nightly", "api"]

    /// Checks every field and fills in defaults; errors say which field and why.
    public func resolved() throws(FunctionError) -> Resolved {
        var algorithms: [Algorithm] = []
        for name in models ?? Algorithm.allCases.map(\.rawValue) {
            let algorithm = try Algorithm(name: name)
            if !algorithms.contains(algorithm) { algorithms.append(algorithm) }
        }
        guard !algorithms.isEmpty else { throw .invalidInput("models must name at least one of normal, svd, knn") }
        let folds = self.folds ?? 3
        guard (2...20).contains(folds) else { throw .invalidInput("folds must be between 2 and 20, got \(folds)") }
        let metric = (self.metric ?? "rmse").lowercased()
        guard metric == "rmse" || metric == "mae" else { throw .invalidInput("metric must be rmse or mae, got '\(metric)'") }
        if let value = minUserRatings, value < 0 { throw .invalidInput("min_user_ratings must not be negative") }
        if let value = minMovieRatings, value < 0 { throw .invalidInput("min_movie_ratings must not be negative") }
        if let value = sampleSize, value < 1 { throw .invalidInput("sample_size must be positive, got \(value)") }
        let rankingUsers = self.rankingUsers ?? 200
        guard (0...100_000).contains(rankingUsers) else { throw .invalidInput("ranking_users must be between 0 and 100000") }
        let svd = self.svd ?? SVDParameters()
        try svd.validate()
        let knn = self.knn ?? KNNParameters()
        try knn.validate()
        let trigger = self.trigger ?? "manual"
        guard Self.triggers.contains(trigger) else { throw .invalidInput("trigger must be one of \(Self.triggers.joined(separator: ", ")), got '\(trigger.prefix(40))'") }
        return Resolved(algorithms: algorithms, folds: folds, seed: seed ?? 42, metric: metric, svd: svd, knn: knn,
                        force: force ?? false, rankingUsers: rankingUsers, minUserRatings: minUserRatings ?? 0,
                        minMovieRatings: minMovieRatings ?? 0, sampleSize: sampleSize, trigger: trigger)
    }
}

/// `{"action": "evaluate", "train_file", "test_file", "algorithm"}`: one fit and one test on
/// CSV files, for side-by-side comparison with another implementation on the same split.
public struct EvaluateRequest: Codable, Sendable, StrictRequest {
    public var trainFile: String
    public var testFile: String
    public var algorithm: String
    public var seed: UInt64?
    public var svd: SVDParameters?
    public var knn: KNNParameters?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case algorithm, seed, svd, knn
        case trainFile = "train_file", testFile = "test_file"
    }
    public static let accepted = AcceptedKeys(CodingKeys.self, nested: TrainRequest.modelParameters)
}

public struct EvaluateResult: Codable, Sendable {
    public var algorithm: String
    public var variant: String?
    public var rmse: Double
    public var mae: Double
    public var impossible: Int
    public var fitSeconds: Double
    public var testSeconds: Double
    public var trainRatings: Int
    public var testRatings: Int

    enum CodingKeys: String, CodingKey {
        case algorithm, variant, rmse, mae, impossible
        case fitSeconds = "fit_seconds", testSeconds = "test_seconds", trainRatings = "train_ratings", testRatings = "test_ratings"
    }

    public static func run(_ request: EvaluateRequest) throws(FunctionError) -> EvaluateResult {
        let algorithm = try Algorithm(name: request.algorithm)
        let svd = request.svd ?? SVDParameters()
        try svd.validate()
        let knn = request.knn ?? KNNParameters()
        try knn.validate()
        let train = try RatingFile.load(request.trainFile)
        let test = try RatingFile.loadTest(request.testFile)
        let fitStart = monotonicSeconds()
        let model = TrainedModel.fit(algorithm, data: train, svd: svd, knn: knn, seed: request.seed ?? 0)
        let testStart = monotonicSeconds()
        let predictions = model.predict(test, seed: request.seed ?? 0)
        let metrics = AccuracyMetrics.of(predictions, truth: test)
        return EvaluateResult(algorithm: algorithm.rawValue, variant: model.variant, rmse: metrics.rmse, mae: metrics.mae,
                              impossible: metrics.impossible, fitSeconds: testStart - fitStart, testSeconds: monotonicSeconds() - testStart,
                              trainRatings: train.count, testRatings: test.count)
    }
}
