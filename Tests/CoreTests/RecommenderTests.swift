import Foundation
import Testing
@testable import Core

@Suite struct RecommenderTests {
    /// Two users, three movies, written so every number below can be checked by hand.
    let tiny = RatingData(users: [1, 1, 2, 2, 3], items: [10, 20, 10, 30, 20], ratings: [4, 2, 5, 3, 1])

    @Test func svdBiasUpdatesMatchSurprisesRuleByHand() {
        var parameters = SVDParameters()
        parameters.factors = 1; parameters.epochs = 1; parameters.initStd = 0; parameters.threads = 1
        let data = RatingData(users: [1, 1], items: [10, 20], ratings: [4, 2])
        let model = SVDModel.fit(data, parameters: parameters)
        // μ = 3. Rating 1: e = 1 → b_u = 0.005, b_i1 = 0.005. Rating 2: e = 2 − (3 + 0.005) = −1.005,
        // b_u = 0.005 + 0.005(−1.005 − 0.02·0.005), b_i2 = 0.005(−1.005).
        #expect(abs(model.userBias[0] - (0.005 + 0.005 * (-1.005 - 0.02 * 0.005))) < 1e-7)
        #expect(abs(model.itemBias[0] - 0.005) < 1e-7)
        #expect(abs(model.itemBias[1] - 0.005 * -1.005) < 1e-7)
        #expect(model.userFactors.allSatisfy { $0 == 0 })  // p, q start at 0 with init_std 0 and stay there
    }

    @Test func svdLearnsAndDropsUnknownTerms() {
        var parameters = SVDParameters()
        parameters.factors = 4; parameters.epochs = 200; parameters.learningRate = 0.02; parameters.seed = 3
        let trained = TrainedModel.fit(.svd, data: tiny, svd: parameters)
        let seen = trained.predict([TestRating(user: 1, item: 10, rating: 4), TestRating(user: 3, item: 20, rating: 1)])
        #expect(abs(seen[0].estimate - 4) < 0.3)
        #expect(abs(seen[1].estimate - 1) < 0.3)
        guard case .svd(let model) = trained.kind else { Issue.record("not SVD"); return }
        // Unknown user: μ + b_i. Unknown item: μ + b_u. Both unknown: μ.
        let unknown = trained.predict([TestRating(user: 99, item: 10, rating: 0), TestRating(user: 1, item: 99, rating: 0), TestRating(user: 99, item: 99, rating: 0)])
        #expect(abs(unknown[0].estimate - (model.globalMean + model.itemBias[0])) < 1e-5)
        #expect(abs(unknown[1].estimate - (model.globalMean + model.userBias[0])) < 1e-5)
        #expect(abs(unknown[2].estimate - model.globalMean) < 1e-5)
    }

    @Test func svdIsSeededAndClipped() {
        var parameters = SVDParameters()
        parameters.factors = 8; parameters.epochs = 5; parameters.threads = 2
        let a = TrainedModel.fit(.svd, data: tiny, svd: parameters, seed: 5), b = TrainedModel.fit(.svd, data: tiny, svd: parameters, seed: 5)
        let pairs = [TestRating(user: 1, item: 30, rating: 0), TestRating(user: 2, item: 20, rating: 0)]
        #expect(a.predict(pairs).map(\.estimate) == b.predict(pairs).map(\.estimate))
        var wild = parameters
        wild.learningRate = 0.9; wild.epochs = 50
        for prediction in TrainedModel.fit(.svd, data: tiny, svd: wild).predict(pairs) {
            #expect(prediction.estimate >= 0.5 && prediction.estimate <= 5)
        }
    }

    @Test func normalPredictorUsesMaximumLikelihoodEstimates() {
        let model = NormalModel.fit(tiny, seed: 1)
        let mean: Float = 3, variance: Float = (1 + 1 + 4 + 0 + 4) / 5  // divide by N, not N − 1
        #expect(model.mean == mean)
        #expect(abs(model.deviation - variance.squareRoot()) < 1e-6)
        let trained = TrainedModel.fit(.normal, data: tiny, seed: 1)
        let draws = trained.predict(Array(repeating: TestRating(user: 1, item: 10, rating: 3), count: 20_000), seed: 9)
        let average = draws.map { Double($0.estimate) }.reduce(0, +) / 20_000
        #expect(abs(average - 3) < 0.05)
        #expect(draws.allSatisfy { $0.estimate >= 0.5 && $0.estimate <= 5 })
    }

    @Test func knnBasicMatchesAHandComputation() {
        // Users 1 and 2 share movie 10 (4 vs 5): msd 1, sim 0.5. Users 1 and 3 share movie 20 (2 vs 1): sim 0.5.
        // Users 2 and 3 share nothing: sim 0. Predict user 2 on movie 20: neighbours who rated 20 are
        // users 1 (sim 0.5, rating 2) and 3 (sim 0): est = 0.5·2 / 0.5 = 2.
        var parameters = KNNParameters()
        parameters.userBased = true
        let trained = TrainedModel.fit(.knn, data: tiny, knn: parameters)
        let predictions = trained.predict([
            TestRating(user: 2, item: 20, rating: 0),
            TestRating(user: 3, item: 30, rating: 0),   // only user 2 rated 30, and sim(3, 2) = 0: impossible
            TestRating(user: 9, item: 10, rating: 0),   // unknown user: impossible
        ])
        #expect(predictions[0].estimate == 2)
        #expect(!predictions[0].wasImpossible)
        #expect(predictions[1].wasImpossible)
        #expect(predictions[1].estimate == 3)  // the global mean
        #expect(predictions[2].wasImpossible)
        guard case .knn(let model) = trained.kind else { Issue.record("not KNN"); return }
        #expect(model.exact)
        #expect(model.variant == "user-based, exact")
    }

    @Test func knnRespectsMinKAndItemBased() {
        var parameters = KNNParameters()
        parameters.userBased = true; parameters.k = 2; parameters.minK = 2
        let strict = TrainedModel.fit(.knn, data: tiny, knn: parameters)
        #expect(strict.predict([TestRating(user: 2, item: 20, rating: 0)])[0].wasImpossible)
        parameters.userBased = false; parameters.minK = 1
        let itemBased = TrainedModel.fit(.knn, data: tiny, knn: parameters)
        // Item-based: sim(10, 20) from user 1 (4 vs 2): msd 4, sim 0.2. User 2 on 20: neighbours of 20
        // rated by user 2: movie 10 (5), sim 0.2 → 5.
        let prediction = itemBased.predict([TestRating(user: 2, item: 20, rating: 0)])[0]
        #expect(prediction.estimate == 5)
        #expect(itemBased.variant?.hasPrefix("item-based") == true)
    }

    @Test func kFoldSplitsLikeSurprise() {
        let folds = KFold(folds: 3, seed: 1).testPositions(count: 10)
        #expect(folds.map(\.count) == [4, 3, 3])  // ⌊10/3⌋ + 1 for the first 10 mod 3 folds
        #expect(Set(folds.flatMap { $0 }) == Set(0..<10))
        #expect(KFold(folds: 3, seed: 1).testPositions(count: 10) == folds)
        #expect(KFold(folds: 3, seed: 2).testPositions(count: 10) != folds)
        let data = RatingData(users: (0..<30).map { Int32($0 % 5) }, items: (0..<30).map { Int32($0) }, ratings: (0..<30).map { Float($0 % 10) / 2 + 0.5 })
        for (train, test) in KFold(folds: 3, seed: 4).split(data) {
            #expect(train.count + test.count == 30)
            let trainPairs = Set((0..<train.userCount).flatMap { u in (train.userOffsets[u]..<train.userOffsets[u + 1]).map { "\(train.userIDs[u])-\(train.itemIDs[Int(train.items[$0])])" } })
            #expect(test.allSatisfy { !trainPairs.contains("\($0.user)-\($0.item)") })
        }
    }

    @Test func accuracyMetricsByHand() {
        let truth = [TestRating(user: 1, item: 1, rating: 4), TestRating(user: 1, item: 2, rating: 2)]
        let predictions = [TrainedModel.Prediction(estimate: 3, wasImpossible: false), TrainedModel.Prediction(estimate: 4, wasImpossible: true)]
        let metrics = AccuracyMetrics.of(predictions, truth: truth)
        #expect(abs(metrics.rmse - (2.5).squareRoot()) < 1e-12)
        #expect(metrics.mae == 1.5)
        #expect(metrics.impossible == 1)
    }

    @Test func rankingMetricsRewardAPerfectOracle() {
        // Each user rated 30 items; the held-out ones they love are exactly the ones a biased SVD ranks top.
        var users: [Int32] = [], items: [Int32] = [], ratings: [Float] = []
        for user in 1...40 { for item in 1...60 where (user + item) % 2 == 0 { users.append(Int32(user)); items.append(Int32(item)); ratings.append(item <= 10 ? 5 : 1) } }
        let data = RatingData(users: users, items: items, ratings: ratings)
        let (train, test) = KFold(folds: 5, seed: 1).split(data)[0]
        var parameters = SVDParameters()
        parameters.epochs = 100; parameters.learningRate = 0.01
        let model = TrainedModel.fit(.svd, data: train, svd: parameters)
        let metrics = RankingMetrics.evaluate(model, train: train, test: test, sampleUsers: 40)
        #expect(metrics.usersEvaluated > 10)
        #expect(metrics.recallAt10 > 0.9)
        #expect(metrics.ndcgAt10 > 0.3)  // the held-out loved movie shares the top with unseen loved ones of the other parity
        #expect(metrics.catalogCoverage > 0 && metrics.catalogCoverage <= 1)
        let random = RankingMetrics.evaluate(TrainedModel.fit(.normal, data: train), train: train, test: test, sampleUsers: 40)
        #expect(random.ndcgAt10 < metrics.ndcgAt10)
    }

    @Test(arguments: [Algorithm.normal, .svd, .knn])
    func modelFilesRoundTrip(algorithm: Algorithm) throws {
        let data = try RatingFile.load(try synthesized(ratings: 5_000, seed: 2).0 + "/ratings.csv")
        let model = TrainedModel.fit(algorithm, data: data, seed: 3)
        let file = try ModelFile.encode(model, popularity: .compute(data), trainedRatings: data.count)
        let (decoded, popularity, metadata) = try ModelFile.decode(file)
        #expect(metadata.algorithm == algorithm)
        #expect(decoded.userIDs == model.userIDs)
        #expect(popularity.items.count > 0)
        let pairs = (0..<200).map { TestRating(user: data.userIDs[$0 % data.userCount], item: data.itemIDs[($0 * 7) % data.itemCount], rating: 0) }
        #expect(decoded.predict(pairs, seed: 1).map(\.estimate) == model.predict(pairs, seed: 1).map(\.estimate))
        // Any flipped byte is caught by the checksum; a cut file by the length.
        var corrupt = file
        corrupt[corrupt.count / 2] ^= 0x40
        #expect(throws: FunctionError.self) { try ModelFile.decode(corrupt) }
        #expect(throws: FunctionError.self) { try ModelFile.decode(file.prefix(file.count - 10)) }
        #expect(throws: FunctionError.self) { try ModelFile.decode(Data("not a model".utf8)) }
    }

    @Test func popularityIsDampedAndThresholded() {
        var users: [Int32] = [], items: [Int32] = [], ratings: [Float] = []
        for user in 1...200 { users.append(Int32(user)); items.append(1); ratings.append(4) }       // many 4s
        for user in 1...12 { users.append(Int32(user)); items.append(2); ratings.append(5) }        // few 5s
        for user in 1...5 { users.append(Int32(user)); items.append(3); ratings.append(5) }         // too few to rank
        let popularity = ModelFile.Popularity.compute(RatingData(users: users, items: items, ratings: ratings))
        #expect(popularity.items == [1, 2])
        #expect(abs(popularity.scores[0] - Float(200.0 * 4 / 300)) < 1e-5)
    }

    @Test func trainRequestsAreValidated() {
        func check(_ json: String, _ text: String) {
            do {
                _ = try JSON.decodeRequest(TrainRequest.self, from: Data(json.utf8)).resolved()
                Issue.record("accepted \(json)")
            } catch { #expect(error.status == 400 && error.message.contains(text), "\(error.message)") }
        }
        check(#"{"models": ["svdpp"]}"#, "unknown model 'svdpp'")
        check(#"{"folds": 1}"#, "folds must be between 2 and 20")
        check(#"{"sample_size": -5}"#, "sample_size must be positive")
        check(#"{"min_user_ratings": -1}"#, "min_user_ratings")
        check(#"{"metric": "auc"}"#, "metric must be rmse or mae")
        check(#"{"svd": {"factors": 0}}"#, "svd.factors")
        check(#"{"knn": {"k": 5, "min_k": 6}}"#, "knn.min_k")
        check(#"{"folds": "three"}"#, "folds")
    }
}
