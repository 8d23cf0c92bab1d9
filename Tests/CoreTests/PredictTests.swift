import Foundation
import Testing
@testable import Core

@Suite struct PredictTests {
    struct World {
        var database: Database
        var url: String
        var store: ArtifactStore
        var predict: PredictFunction
        var environment: [String: String]
    }

    func world(ratings: Int = 20_000, train models: [String]? = ["svd"]) throws -> World {
        let (database, url) = try TestServices.migratedDatabase()
        _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: ratings, seed: 31).0), database: database, storage: nil)
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        let store = ArtifactStore(client: client, bucket: bucket)
        if let models {
            let settings = try JSON.decodeRequest(TrainRequest.self, from: Data(#"{"models": \#(models), "ranking_users": 0}"#.utf8)).resolved()
            _ = try TrainingPipeline(database: database, store: store, settings: settings, runID: UUID().uuidString).run()
        }
        let configuration = try TestServices.s3Configuration()
        let cache = ChampionCache(directory: TestServices.temporaryDirectory(), checkInterval: 0)
        return World(database: database, url: url, store: store, predict: PredictFunction(database: database, store: store, cache: cache), environment: [
            "DATABASE_URL": url, "S3_ENDPOINT_URL": configuration.endpoint, "AWS_REGION": configuration.region,
            "AWS_ACCESS_KEY_ID": configuration.accessKey, "AWS_SECRET_ACCESS_KEY": configuration.secretKey, "ARTIFACT_BUCKET": bucket,
            "MODEL_CACHE_DIR": cache.directory,
        ])
    }

    func request(_ json: String) throws(FunctionError) -> PredictRequest { try JSON.decodeRequest(PredictRequest.self, from: Data(json.utf8)) }

    func seen(_ user: Int, _ database: Database) throws -> Set<Int> {
        let rows = try database.execute("SELECT movie_id FROM ratings WHERE user_id = $1", [user])
        return Set((0..<rows.count).compactMap { rows.int($0, 0) })
    }

    /// A warm process looks titles up in the catalogue it holds, and reads it again once an
    /// import has landed (checked after a response, off the request path).
    @Test func aWarmProcessHoldsTheCatalogueUntilTheNextImport() throws {
        let world = try world()
        world.predict.holdsCatalogue = true
        let first = try world.predict.recommend(try request(#"{"user_id": 3, "top_n": 3}"#))
        world.predict.afterResponse()
        let top = try #require(first.recommendations.first)
        try world.database.execute("UPDATE movies SET title = 'Renamed' WHERE movie_id = $1", [top.movieId])
        #expect(try world.predict.recommend(try request(#"{"user_id": 3, "top_n": 3}"#)).recommendations.first?.title == top.title)
        try world.database.execute("INSERT INTO imports (source, dataset, status, fingerprint, files) VALUES ('test', 'test', 'succeeded', 'test', '{}')")
        world.predict.afterResponse()
        #expect(try world.predict.recommend(try request(#"{"user_id": 3, "top_n": 3}"#)).recommendations.first?.title == "Renamed")
    }

    @Test func knownUsersGetUnseenMoviesFromTheChampion() throws {
        let world = try world()
        // The reference system's own documented call, through the route: ten, not the default five.
        let reference = try world.predict.handle(.http(HTTPRequest(method: "POST", path: "/predict/", body: Data(#"{"user_id": 1, "n_recommendations": 10}"#.utf8))),
                                                 context: InvocationContext(requestId: "r"))
        #expect(reference.status == 200)
        let referenceAnswer = try JSONDecoder().decode(JSONValue.self, from: reference.body)
        #expect(referenceAnswer["recommendations"]?.array?.count == 10)
        let answer = try world.predict.recommend(try request(#"{"user_id": 3, "top_n": 10}"#))
        #expect(answer.method == "svd")
        #expect(answer.modelVersion == 1)
        #expect(answer.recommendations.count == 10)
        #expect(Set(answer.recommendations.map(\.movieId)).isDisjoint(with: try seen(3, world.database)))
        #expect(answer.recommendations.map(\.score) == answer.recommendations.map(\.score).sorted(by: >))
        #expect(answer.recommendations.allSatisfy { $0.score >= 0.5 && $0.score <= 5 && !$0.title.isEmpty && $0.movie == $0.title })
        #expect(answer.topScore == answer.recommendations.first?.score)
        #expect(Set(answer.recommendations.map(\.movieId)).count == 10)
        world.predict.afterResponse()  // the log is written once the answer has gone, as the runtime loop does
        let logged = try world.database.execute("SELECT method, cardinality(movie_ids) FROM recommendation_log WHERE user_id = 3")
        #expect(logged.string(0, 0) == "svd")
        #expect(logged.int(0, 1) == 10)
    }

    @Test func coldStartUsesTheStoredPopularityAndGenres() throws {
        let world = try world()
        let answer = try world.predict.recommend(try request(#"{"user_id": 900000, "top_n": 8}"#))
        #expect(answer.method == "popularity_cold_start")
        #expect(answer.recommendations.count == 8)
        #expect(Set(answer.recommendations.map(\.movieId)).count == 8)
        let dramas = try world.predict.recommend(try request(#"{"user_id": 900000, "top_n": 5, "genres": ["Drama"]}"#))
        #expect(dramas.recommendations.count == 5)
        #expect(dramas.recommendations.allSatisfy { $0.genres.split(separator: "|").contains("Drama") })
        do { _ = try world.predict.recommend(try request(#"{"user_id": 900000, "genres": ["Dramedy"]}"#)); Issue.record("accepted") } catch {
            #expect(error.status == 400)
            #expect(error.message.contains("unknown genre 'Dramedy'"))
        }
    }

    @Test func newRatingsChangeRecommendationsAtOnceByFoldIn() throws {
        let world = try world()
        let popular = try world.predict.recommend(try request(#"{"user_id": 800001, "top_n": 10}"#)).recommendations.map(\.movieId)
        let movies = try world.database.execute("SELECT movie_id FROM movie_stats ORDER BY count DESC LIMIT 40")
        let ids = (0..<movies.count).compactMap { movies.int($0, 0) }
        _ = try Ratings.rate(.init(userId: 800001, ratings: ids.prefix(20).map { .init(movieId: $0, rating: 5) } + ids.suffix(20).map { .init(movieId: $0, rating: 0.5) }), database: world.database)
        let folded = try world.predict.recommend(try request(#"{"user_id": 800001, "top_n": 10}"#))
        #expect(folded.method == "svd_fold_in")
        #expect(folded.recommendations.map(\.movieId) != popular)
        #expect(Set(folded.recommendations.map(\.movieId)).isDisjoint(with: Set(ids)))
        // A second user with the opposite taste gets a different list from the same model.
        _ = try Ratings.rate(.init(userId: 800002, ratings: ids.prefix(20).map { .init(movieId: $0, rating: 0.5) } + ids.suffix(20).map { .init(movieId: $0, rating: 5) }), database: world.database)
        let opposite = try world.predict.recommend(try request(#"{"user_id": 800002, "top_n": 10}"#))
        #expect(opposite.recommendations.map(\.movieId) != folded.recommendations.map(\.movieId))
    }

    @Test func withoutAModelTheDatabasePopularityAnswers() throws {
        let world = try world(train: nil)
        let answer = try world.predict.recommend(try request(#"{"user_id": 5, "top_n": 5}"#))
        #expect(answer.method == "popularity_no_model")
        #expect(answer.modelVersion == nil)
        #expect(answer.recommendations.count == 5)
        #expect(Set(answer.recommendations.map(\.movieId)).isDisjoint(with: try seen(5, world.database)))
        let expected = try world.database.execute("""
            SELECT movie_id FROM (SELECT movie_id, count(*) c, sum(rating) s FROM ratings GROUP BY movie_id) t
            WHERE c >= 10 AND movie_id NOT IN (SELECT movie_id FROM ratings WHERE user_id = 5) ORDER BY s / (c + 100.0) DESC, movie_id LIMIT 5
            """)
        #expect(answer.recommendations.map(\.movieId) == (0..<5).compactMap { expected.int($0, 0) })
    }

    @Test func singleRatingsAndKNNImpossibleFlags() throws {
        let world = try world(train: ["svd"])
        let one = try world.predict.predictOne(try request(#"{"user_id": 3, "movie_id": 1}"#))
        #expect(one.method == "svd")
        #expect(one.score >= 0.5 && one.score <= 5)
        do { _ = try world.predict.predictOne(try request(#"{"user_id": 3, "movie_id": 99999999}"#)); Issue.record("accepted") } catch { #expect(error.status == 404) }
        let knn = try self.world(train: ["knn"])
        let movie = try knn.database.execute("SELECT movie_id FROM movie_stats ORDER BY count LIMIT 1").int(0, 0)!
        let rare = try knn.predict.predictOne(try request(#"{"user_id": 2, "movie_id": \#(movie)}"#))
        #expect(rare.method.hasPrefix("knn"))
        let common = try knn.predict.recommend(try request(#"{"user_id": 2, "top_n": 5}"#))
        #expect(common.method.hasPrefix("knn"))
        #expect(common.recommendations.count == 5)
    }

    @Test func aNewChampionIsServedWithoutRestart() throws {
        let world = try world()
        #expect(try world.predict.recommend(try request(#"{"user_id": 3}"#)).modelVersion == 1)
        let settings = try JSON.decodeRequest(TrainRequest.self, from: Data(#"{"models": ["knn"], "force": true, "ranking_users": 0}"#.utf8)).resolved()
        _ = try TrainingPipeline(database: world.database, store: world.store, settings: settings, runID: "v2").run()
        let after = try world.predict.recommend(try request(#"{"user_id": 3}"#))
        #expect(after.modelVersion == 2)
        #expect(after.method.hasPrefix("knn"))
    }

    @Test func aCorruptArtifactIs503NotACrash() throws {
        let world = try world()
        let champion = try #require(try Registry(database: world.database).champion())
        try world.store.put(Data("garbage".utf8), key: champion.artifactKey, contentType: "application/octet-stream")
        do { _ = try world.predict.recommend(try request(#"{"user_id": 3}"#)); Issue.record("served a corrupt model") } catch {
            #expect(error.status == 503)
            #expect(error.message.contains("corrupt"))
        }
        try world.store.client.delete(bucket: world.store.bucket, key: champion.artifactKey)
        do { _ = try world.predict.recommend(try request(#"{"user_id": 3}"#)); Issue.record("served a missing model") } catch {
            #expect(error.status == 503)
            #expect(error.message.contains("cannot be fetched"))
        }
    }

    @Test func batchesGoToTheArtifactStoreAsCSV() throws {
        let world = try world()
        let result = try world.predict.batch(.init(userIds: Array(1...50) + [900001], topN: 3), id: "batch-1")
        #expect(result.users == 51)
        #expect(result.rows == 51 * 3)
        #expect(result.key == "predictions/batch/batch-1.csv")
        #expect(result.methods["svd"] == 50)
        #expect(result.methods["popularity_cold_start"] == 1)
        let csv = String(decoding: try world.store.get(result.key), as: UTF8.self)
        let lines = csv.split(separator: "\n")
        #expect(lines.first == "user_id,rank,movie_id,title,score,method")
        #expect(lines.count == 1 + 51 * 3)
        do { _ = try world.predict.batch(.init(userIds: [], topN: 3), id: "x"); Issue.record("accepted") } catch { #expect(error.status == 400) }
    }

    @Test func badRequestsAreClearErrors() throws {
        let world = try world(ratings: 3_000, train: nil)
        let env = world.environment
        for (body, text) in [(#"{}"#, "field 'user_id' is required"), (#"{"user_id": "seven"}"#, "field 'user_id': expected an integer"),
                             (#"{"user_id": 1, "top_n": 0}"#, "top_n must be between 1 and 100"), (#"{"user_id": 1, "top_n": 101}"#, "top_n must be between 1 and 100"),
                             (#"{"user_id": -4}"#, "user_id must be a positive integer"), ("{nope", "not valid JSON")] {
            let outcome = try FunctionProcess.run("predict", event: apiGatewayEvent("POST", "/predict/", body: body), environment: env)
            #expect(outcome.json?["statusCode"]?.int == 400, "\(body)")
            #expect(outcome.json?["body"]?.stringValue?.contains(text) == true, "\(body): \(outcome.json?["body"]?.stringValue ?? "")")
        }
        let big = String(repeating: " ", count: Event.maximumSize + 10)
        let oversized = try FunctionProcess.run("predict", event: big, environment: env)
        #expect(oversized.json?["error"]?["code"]?.stringValue == "too_large")
        let ok = try FunctionProcess.run("predict", event: #"{"user_id": 1, "top_n": 3}"#, environment: env)
        #expect(ok.status == 0)
        #expect(ok.json?["recommendations"]?.array?.count == 3)
    }
}
