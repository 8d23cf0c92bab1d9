import Foundation
import Testing
@testable import Core

@Suite struct DriftTests {
    func distribution(_ name: String, _ kind: FeatureKind, values: [Double] = [], labels: [String] = [], counts: [Double]) -> FeatureDistribution {
        FeatureDistribution(name: name, kind: kind, values: values, labels: labels, counts: counts)
    }

    @Test func testsAreChosenAsEvidentlyChoosesThem() {
        let options = DriftOptions()
        // Reference of at most 1000 values.
        let smallNumeric = distribution("x", .numerical, values: [1, 2, 3, 4, 5, 6, 7], counts: [100, 100, 100, 100, 100, 100, 100])
        #expect(DriftEvaluation.evaluate(reference: smallNumeric, current: smallNumeric, options: options).method == "ks")
        let fewValues = distribution("x", .numerical, values: [1, 2, 3], counts: [300, 300, 300])
        #expect(DriftEvaluation.evaluate(reference: fewValues, current: fewValues, options: options).method == "chisquare")
        let categories = distribution("c", .categorical, labels: ["a", "b", "c"], counts: [300, 300, 300])
        #expect(DriftEvaluation.evaluate(reference: categories, current: categories, options: options).method == "chisquare")
        let binary = distribution("b", .categorical, labels: ["no", "yes"], counts: [400, 600])
        #expect(DriftEvaluation.evaluate(reference: binary, current: binary, options: options).method == "z")
        // Reference of more than 1000 values.
        let bigNumeric = distribution("x", .numerical, values: [1, 2, 3, 4, 5, 6, 7], counts: [1000, 1000, 1000, 1000, 1000, 1000, 1000])
        #expect(DriftEvaluation.evaluate(reference: bigNumeric, current: bigNumeric, options: options).method == "wasserstein")
        let bigCategories = distribution("c", .categorical, labels: ["a", "b"], counts: [5000, 5000])
        #expect(DriftEvaluation.evaluate(reference: bigCategories, current: bigCategories, options: options).method == "jensenshannon")
        // Overrides.
        let forced = DriftEvaluation.evaluate(reference: bigNumeric, current: bigNumeric, options: DriftOptions(method: "psi", threshold: 0.2))
        #expect(forced.method == "psi" && forced.threshold == 0.2 && !forced.drifted)
    }

    @Test func thresholdsDecideDrift() {
        let reference = distribution("rating", .numerical, values: [1, 2, 3, 4, 5, 6], counts: [1000, 2000, 3000, 3000, 2000, 1000])
        let same = DriftEvaluation.evaluate(reference: reference, current: reference, options: .init())
        #expect(same.statistic == 0 && !same.drifted && same.psi == 0)
        let shifted = distribution("rating", .numerical, values: [1, 2, 3, 4, 5, 6], counts: [100, 200, 1000, 2000, 3000, 3000])
        let moved = DriftEvaluation.evaluate(reference: reference, current: shifted, options: .init())
        #expect(moved.drifted && moved.statistic >= 0.1)
        // A category the reference never saw is drift for chi-squared (p = 0).
        let small = distribution("g", .categorical, labels: ["a", "b", "c"], counts: [100, 100, 100])
        let novel = distribution("g", .categorical, labels: ["a", "b", "d"], counts: [100, 100, 100])
        let result = DriftEvaluation.evaluate(reference: small, current: novel, options: .init())
        #expect(result.method == "chisquare" && result.pValue == 0 && result.drifted)
        // A constant window against itself: no drift, no crash.
        let constant = distribution("k", .numerical, values: [3], counts: [5000])
        #expect(!DriftEvaluation.evaluate(reference: constant, current: constant, options: .init()).drifted)
    }

    struct World {
        var database: Database
        var drift: DriftFunction
        var store: ArtifactStore
    }

    func world() throws -> World {
        let (database, _) = try TestServices.migratedDatabase()
        // Sparse like MovieLens (a user rates a small share of the catalogue), so that new ratings
        // on movies a user has not rated yet can follow the popularity mix.
        _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: 40_000, seed: 41, movies: 8_000).0), database: database, storage: nil)
        let client = try TestServices.s3Client()
        let store = ArtifactStore(client: client, bucket: try TestServices.freshBucket(client))
        let drift = DriftFunction(database: database, store: store)
        drift.clock = { 1_900_000_000 }
        return World(database: database, drift: drift, store: store)
    }

    func call(_ drift: DriftFunction, _ method: String, _ path: String, _ query: [String: String] = [:]) throws -> (Int, JSONValue?, Data) {
        let reply: Reply
        do { reply = try drift.handle(.http(HTTPRequest(method: method, path: path, query: query)), context: InvocationContext(requestId: "t")) } catch {
            reply = .error(error)  // what the runtime answers for a thrown error
        }
        return (reply.status, try? JSONDecoder().decode(JSONValue.self, from: reply.body), reply.body)
    }

    func drifted(_ answer: JSONValue?) -> Set<String> {
        Set((answer?["features"]?.array ?? []).filter { $0["drifted"] == .bool(true) }.compactMap { $0["name"]?.stringValue })
    }

    @Test func sameDistributionNoDriftShiftedRatingsDriftAlone() throws {
        let world = try world()
        let (noBaseline, body, _) = try call(world.drift, "GET", "/monitoring/drift")
        #expect(noBaseline == 409)
        #expect(body?["error"]?["message"]?.stringValue?.contains("POST /monitoring/drift/baseline") == true)
        #expect(try call(world.drift, "GET", "/monitoring/drift/baseline").0 == 404)

        // The reference: a week of new ratings that follow the data (the generator's own mix).
        _ = try Ratings.generate(batchSize: 3_000, shift: 0, seed: 4, database: world.database, spreadDays: 7, now: 1_899_000_000)
        let (created, baseline, _) = try call(world.drift, "POST", "/monitoring/drift/baseline",
                                              ["from": String(1_899_000_000 - 7 * 86_400), "to": "1899000000"])
        #expect(created == 201)
        #expect(baseline?["rows"]?.int == 3_000)
        #expect(baseline?["features"]?.array?.count == 6)
        let key = try #require(baseline?["artifact"]?.stringValue)
        #expect(key == "baselines/drift/baseline-1.json")
        #expect(try world.store.get(key).count > 100)  // the copy in S3

        // Another week drawn the same way: nothing drifts.
        _ = try Ratings.generate(batchSize: 3_000, shift: 0, seed: 5, database: world.database, spreadDays: 7, now: 1_899_999_000)
        let (_, calm, _) = try call(world.drift, "GET", "/monitoring/drift", ["last_ratings": "3000"])
        #expect(calm?["drift_detected"] == .bool(false), "\(String(describing: calm))")
        #expect(drifted(calm).isEmpty, "\(drifted(calm)) \(String(describing: calm?["features"]))")
        #expect(calm?["current"]?["rows"]?.int == 3_000)

        // Ratings pushed down by 1.5 stars: the rating feature drifts, the others do not.
        _ = try Ratings.generate(batchSize: 3_000, shift: -1.5, seed: 6, database: world.database, spreadDays: 7, now: 1_899_999_000 + 7 * 86_400)
        let (_, shifted, _) = try call(world.drift, "GET", "/monitoring/drift", ["last_ratings": "3000"])
        #expect(drifted(shifted) == ["rating"], "\(drifted(shifted))")
        #expect(shifted?["drift_detected"] == .bool(false))  // 1 of 6 features is under the 0.5 share
        let (_, strict, _) = try call(world.drift, "GET", "/monitoring/drift", ["last_ratings": "3000", "drift_share": "0.1"])
        #expect(strict?["drift_detected"] == .bool(true))
        let rating = try #require(shifted?["features"]?.array?.first { $0["name"]?.stringValue == "rating" })
        #expect(rating["method"]?.stringValue == "wasserstein")
        #expect((rating["statistic"]?.double ?? 0) > 0.5)
        #expect(try world.database.execute("SELECT count(*) FROM drift_reports").int(0, 0) == 3)
    }

    /// POST /ratings accepts any id below IDSet.maximumID: one huge user id must not blow the
    /// frozen activity table up to gigabytes (it once made the baseline 1.8 GB, refused by PostgreSQL).
    @Test func aHugeUserIdKeepsTheBaselineSmall() throws {
        let world = try world()
        let movie = try #require(try world.database.execute("SELECT min(movie_id) FROM movies").int(0, 0))
        _ = try Ratings.rate(Ratings.RateRequest(userId: Int(IDSet.maximumID) - 1, ratings: [.init(movieId: movie, rating: 4)]), database: world.database)
        let (created, baseline, _) = try call(world.drift, "POST", "/monitoring/drift/baseline")
        #expect(created == 201, "\(String(describing: baseline))")
        let size = try world.database.execute("SELECT octet_length(user_activity) FROM drift_baselines ORDER BY baseline_id DESC LIMIT 1").int(0, 0) ?? 0
        #expect(size < 1_000_000, "user_activity is \(size) bytes")
        let (checked, _, _) = try call(world.drift, "GET", "/monitoring/drift", ["last_ratings": "1000"])
        #expect(checked == 200)
        // The frozen table still knows the huge id.
        let lookups = try FeatureLookups.current(world.database)
        #expect(lookups.activity[Int(IDSet.maximumID) - 1] == 1)
        #expect(IDCounts.decode(lookups.activity.hex) == lookups.activity)
        #expect(IDCounts.decode(IDCounts.hex([0, 3, 0, 5]))[3] == 5, "baselines stored densely before still read")
    }

    @Test func theReportIsAPageWithHistograms() throws {
        let world = try world()
        _ = try call(world.drift, "POST", "/monitoring/drift/baseline", ["to": "1800000000"])
        _ = try Ratings.generate(batchSize: 2_000, shift: 1, seed: 7, database: world.database, spreadDays: 7, now: 1_899_999_000)
        for path in ["/monitoring/drift/report", "/monitoring/drift/evidently"] {
            let reply = try world.drift.handle(.http(HTTPRequest(method: "GET", path: path, query: ["days": "7"])), context: InvocationContext(requestId: "r"))
            #expect(reply.status == 200)
            #expect(reply.contentType.hasPrefix("text/html"))
            let page = String(decoding: reply.body, as: UTF8.self)
            #expect(page.contains("<svg") && page.contains("Data drift report") && page.contains("rating"))
            #expect(page.components(separatedBy: "<svg").count - 1 == 6)
            #expect(!page.contains("src=") && !page.contains("<link") && !page.contains("<script"))  // self-contained: nothing to fetch
        }
        let keys = try world.store.client.list(bucket: world.store.bucket, prefix: "reports/drift/")
        #expect(!keys.isEmpty)
    }

    @Test func monitoringStatsAndRecommendationQuality() throws {
        let world = try world()
        _ = try Ratings.generate(batchSize: 500, shift: 0, seed: 9, database: world.database, spreadDays: 2, now: 1_900_000_000)
        let (status, stats, _) = try call(world.drift, "GET", "/monitoring/stats", ["days": "3"])
        #expect(status == 200)
        #expect(stats?["ratings"]?.int == 500)
        #expect(stats?["distinct_days"]?.int ?? 0 >= 2)
        #expect((stats?["mean"]?.double ?? 0) > 0.5)
        let movies = try world.database.execute("SELECT movie_id FROM movies ORDER BY movie_id LIMIT 6")
        let ids = (0..<6).compactMap { movies.int($0, 0) }
        try world.database.execute("INSERT INTO recommendation_log (user_id, method, model_version, movie_ids, scores) VALUES (1, 'svd', 1, $1::int[], '{4.5,4.4,4.3}'), (2, 'popularity_cold_start', 1, $2::int[], '{3.9,3.8,3.7}')",
                                   [SQLArray(Array(ids.prefix(3))), SQLArray(Array(ids.suffix(3)))])
        let (_, quality, _) = try call(world.drift, "GET", "/monitoring/recommendations", ["days": "1"])
        #expect(quality?["requests"]?.int == 2)
        #expect(quality?["items"]?.int == 6)
        #expect(quality?["methods"]?["svd"]?.int == 1)
        #expect(abs((quality?["mean_score_by_method"]?["svd"]?.double ?? 0) - 4.4) < 1e-6)
        #expect((quality?["catalog_coverage"]?.double ?? 0) > 0)
        let diversity = quality?["intra_list_genre_diversity"]?.double ?? -1
        #expect(diversity >= 0 && diversity <= 1)
    }

    @Test func badParametersAre400() throws {
        let world = try world()
        for query in [["method": "magic"], ["days": "0"], ["threshold": "-1"], ["drift_share": "2"], ["last_ratings": "x"]] {
            let (status, body, _) = try call(world.drift, "GET", "/monitoring/drift", query)
            #expect(status == 400, "\(query): \(String(describing: body))")
        }
    }
}
