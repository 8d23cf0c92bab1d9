/// Surprise's KFold: a seeded shuffle of the rating positions, cut into k folds of ⌊N/k⌋
/// (+1 for the first N mod k folds). Every candidate is judged on the same folds.
public struct KFold: Sendable {
    public var folds: Int
    public var seed: UInt64

    public init(folds: Int = 3, seed: UInt64 = 42) { self.folds = folds; self.seed = seed }

    /// Test positions of each fold.
    public func testPositions(count: Int) -> [[Int]] {
        var order = Array(0..<count)
        var random = SeededGenerator(seed: seed)
        for index in stride(from: count - 1, to: 0, by: -1) { order.swapAt(index, random.below(index + 1)) }
        var result: [[Int]] = []
        var start = 0
        for fold in 0..<folds {
            let size = count / folds + (fold < count % folds ? 1 : 0)
            result.append(Array(order[start..<start + size]))
            start += size
        }
        return result
    }

    /// The folds of `data`, built one at a time when asked for: only one fold's training set
    /// and test ratings are in memory at once (on MovieLens-20M each is hundreds of megabytes).
    public func folds(of data: RatingData) -> Folds { Folds(data: data, tests: testPositions(count: data.count)) }

    public struct Folds {
        let data: RatingData
        let tests: [[Int]]
        public var count: Int { tests.count }

        public func fold(_ index: Int) -> (train: RatingData, test: [TestRating]) {
            var inTest = [Bool](repeating: false, count: data.count)
            for position in tests[index] { inTest[position] = true }
            var train: [Int] = []
            train.reserveCapacity(data.count - tests[index].count)
            var test: [TestRating] = []
            test.reserveCapacity(tests[index].count)
            for user in 0..<data.userCount {
                for position in data.userOffsets[user]..<data.userOffsets[user + 1] {
                    if inTest[position] {
                        test.append(TestRating(user: data.userIDs[user], item: data.itemIDs[Int(data.items[position])], rating: data.ratings[position],
                                               timestamp: data.timestamps.isEmpty ? 0 : data.timestamps[position]))
                    } else {
                        train.append(position)
                    }
                }
            }
            return (data.subset(train), test)
        }
    }

    /// Every fold at once (small data and tests).
    public func split(_ data: RatingData) -> [(train: RatingData, test: [TestRating])] {
        let folds = folds(of: data)
        return (0..<folds.count).map { folds.fold($0) }
    }
}

public struct AccuracyMetrics: Codable, Sendable, Equatable {
    public var rmse: Double
    public var mae: Double
    public var impossible: Int

    public static func of(_ predictions: [TrainedModel.Prediction], truth: [TestRating]) -> AccuracyMetrics {
        var squares = 0.0, absolute = 0.0, impossible = 0
        for (prediction, actual) in zip(predictions, truth) {
            let error = Double(prediction.estimate) - Double(actual.rating)
            squares += error * error
            absolute += abs(error)
            if prediction.wasImpossible { impossible += 1 }
        }
        let n = Double(max(truth.count, 1))
        return AccuracyMetrics(rmse: (squares / n).squareRoot(), mae: absolute / n, impossible: impossible)
    }
}

/// Ranking quality on held-out data: for a seeded sample of users, rank every movie they did not
/// rate in training; relevant = held-out rating ≥ 4.
public struct RankingMetrics: Codable, Sendable, Equatable {
    public var precisionAt10: Double
    public var recallAt10: Double
    public var ndcgAt10: Double
    public var catalogCoverage: Double
    public var usersEvaluated: Int

    enum CodingKeys: String, CodingKey {
        case precisionAt10 = "precision_at_10", recallAt10 = "recall_at_10", ndcgAt10 = "ndcg_at_10"
        case catalogCoverage = "catalog_coverage", usersEvaluated = "users_evaluated"
    }

    public static func evaluate(_ model: TrainedModel, train: RatingData, test: [TestRating], sampleUsers: Int = 200,
                                seed: UInt64 = 7, cutoff: Int = 10, relevantFrom: Float = 4) -> RankingMetrics {
        var relevantByUser: [Int32: Set<Int32>] = [:]
        for rating in test where rating.rating >= relevantFrom { relevantByUser[rating.user, default: []].insert(rating.item) }
        var candidates = relevantByUser.keys.filter { train.userIndex($0) >= 0 }.sorted()
        var random = SeededGenerator(seed: seed)
        for index in stride(from: candidates.count - 1, to: 0, by: -1) { candidates.swapAt(index, random.below(index + 1)) }
        let users = candidates.prefix(sampleUsers)
        var precision = 0.0, recall = 0.0, ndcg = 0.0
        var recommended = Set<Int32>()
        var seen = [Bool](repeating: false, count: model.itemIDs.count)
        for user in users {
            guard let scores = model.scoreAllItems(user: user, seed: seed) else { continue }
            let inner = Int(train.userIndex(user))
            // Items the user rated in training are not recommendable. Training and model share inner item ids.
            var touched: [Int] = []
            for position in train.userOffsets[inner]..<train.userOffsets[inner + 1] {
                let item = Int(train.items[position]); seen[item] = true; touched.append(item)
            }
            var top: [(Float, Int32)] = []
            for item in scores.indices where !seen[item] {
                let entry = (scores[item], Int32(item))
                if top.count < cutoff { top.append(entry); if top.count == cutoff { top.sort { $0.0 > $1.0 } } ; continue }
                if entry.0 > top[cutoff - 1].0 {
                    top[cutoff - 1] = entry
                    var position = cutoff - 1
                    while position > 0 && top[position].0 > top[position - 1].0 { top.swapAt(position, position - 1); position -= 1 }
                }
            }
            if top.count < cutoff { top.sort { $0.0 > $1.0 } }
            for item in touched { seen[item] = false }
            let relevant = relevantByUser[user] ?? []
            var hits = 0, dcg = 0.0
            for (rank, entry) in top.enumerated() {
                let raw = model.itemIDs[Int(entry.1)]
                recommended.insert(raw)
                if relevant.contains(raw) { hits += 1; dcg += 1 / log2(Double(rank) + 2) }
            }
            var ideal = 0.0
            for rank in 0..<min(relevant.count, cutoff) { ideal += 1 / log2(Double(rank) + 2) }
            precision += Double(hits) / Double(cutoff)
            recall += Double(hits) / Double(relevant.count)
            ndcg += ideal > 0 ? dcg / ideal : 0
        }
        let n = Double(max(users.count, 1))
        return RankingMetrics(precisionAt10: precision / n, recallAt10: recall / n, ndcgAt10: ndcg / n,
                              catalogCoverage: Double(recommended.count) / Double(max(model.itemIDs.count, 1)), usersEvaluated: users.count)
    }
}

@inline(__always) func log2(_ x: Double) -> Double { _log(x) / 0.6931471805599453 }
