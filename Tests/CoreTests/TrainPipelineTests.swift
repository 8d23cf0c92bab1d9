import Foundation
import Testing
@testable import Core

/// The whole train function against PostgreSQL and an S3 endpoint (moto_server).
@Suite struct TrainPipelineTests {
    struct World {
        var database: Database
        var url: String
        var store: ArtifactStore
        var environment: [String: String]
    }

    func world(ratings: Int = 20_000) throws -> World {
        let (database, url) = try TestServices.migratedDatabase()
        if ratings > 0 {
            _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: ratings, seed: 21).0), database: database, storage: nil)
        }
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        let configuration = try TestServices.s3Configuration()
        return World(database: database, url: url, store: ArtifactStore(client: client, bucket: bucket), environment: [
            "DATABASE_URL": url, "S3_ENDPOINT_URL": configuration.endpoint, "AWS_REGION": configuration.region,
            "AWS_ACCESS_KEY_ID": configuration.accessKey, "AWS_SECRET_ACCESS_KEY": configuration.secretKey, "ARTIFACT_BUCKET": bucket,
        ])
    }

    func settings(_ json: String = "{}") throws(FunctionError) -> TrainRequest.Resolved {
        try JSON.decodeRequest(TrainRequest.self, from: Data(json.utf8)).resolved()
    }

    @Test func aRunTrainsAllCandidatesRegistersAndPromotes() throws {
        let world = try world()
        let run = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(#"{"ranking_users": 50}"#), runID: "run-1").run()
        #expect(run.status == "succeeded")
        #expect(run.progress == 100)
        #expect(run.modelVersion == 1)
        let candidates = run.candidates?.array ?? []
        #expect(candidates.count == 3)
        #expect(candidates.allSatisfy { $0["folds"]?.array?.count == 3 && $0["ranking"]?["users_evaluated"]?.int == 50 })
        let rmse = Dictionary(uniqueKeysWithValues: candidates.map { ($0["algorithm"]?.stringValue ?? "", $0["rmse_mean"]?.double ?? .nan) })
        #expect(try #require(rmse["svd"]) < (try #require(rmse["normal"])))
        #expect(run.best == rmse.min { $0.value < $1.value }?.key)
        #expect(run.decision?["promoted"] == .bool(true))
        #expect(run.data?["ratings"]?.int == 20_000)

        let registry = Registry(database: world.database)
        let champion = try #require(try registry.champion())
        #expect(champion.version == 1)
        #expect(champion.artifactKey == "models/Best_Film_Recommender/v1/model.bin")
        let bytes = try world.store.get(champion.artifactKey)
        #expect(bytes.count == champion.artifactSize)
        let (model, popularity, _) = try ModelFile.decode(bytes)
        #expect(model.algorithm.rawValue == run.best)
        #expect(!popularity.items.isEmpty)
        for name in ["metrics.json", "run.json"] {
            let document = try JSONDecoder().decode(JSONValue.self, from: try world.store.get("models/Best_Film_Recommender/v1/\(name)"))
            #expect(document.objectValue != nil)
        }
    }

    @Test func promotionIsAFairComparisonAndForceOverridesIt() throws {
        let world = try world()
        _ = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(#"{"models": ["svd"], "ranking_users": 0}"#), runID: "a").run()
        // No new data: a weaker configuration (NormalPredictor) is compared configuration against configuration and loses.
        let weaker = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(#"{"models": ["normal"], "ranking_users": 0}"#), runID: "b").run()
        #expect(weaker.decision?["promoted"] == .bool(false))
        #expect(weaker.decision?["reason"]?.stringValue?.contains("refitted on the same training fold") == true)
        #expect(try Registry(database: world.database).champion()?.version == 1)
        #expect(weaker.modelVersion == 2)  // every version is kept, promoted or not
        let forced = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(#"{"models": ["normal"], "force": true, "ranking_users": 0}"#), runID: "c").run()
        #expect(forced.decision?["promoted"] == .bool(true))
        #expect(forced.decision?["reason"]?.stringValue?.hasPrefix("promoted by force") == true)
        #expect(try Registry(database: world.database).champion()?.version == 3)
        // New ratings after the champion's data: judged on those ratings, which neither side saw.
        _ = try Ratings.generate(batchSize: 3_000, shift: 0, seed: 4, database: world.database, now: 2_000_000_000)
        let fresh = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(#"{"models": ["svd"], "ranking_users": 0}"#), runID: "d").run()
        #expect(fresh.decision?["reason"]?.stringValue?.contains("newer than the champion's training data") == true)
        let models = try Registry(database: world.database).models()
        #expect(models.versions.map(\.version) == [4, 3, 2, 1])
        #expect(models.versions.filter { $0.aliases.contains("champion") }.count == 1)
    }

    @Test func oneRunAtATimeAndKilledRunsAreMarkedFailed() throws {
        let world = try world(ratings: 5_000)
        let other = try Database(url: world.url)
        #expect(try other.tryAdvisoryLock(Migrations.LockKey.training))
        try other.execute("INSERT INTO training_runs (run_id, status, stage) VALUES ('ghost', 'running', 'fitting')")
        do {
            _ = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(), runID: "second").run()
            Issue.record("ran beside another run")
        } catch {
            #expect(error.status == 409)
            #expect(error.details["run_id"] == .string("ghost"))
        }
        // The holder dies (its session ends): the next run takes over and marks the ghost failed.
        try other.advisoryUnlock(Migrations.LockKey.training)
        let run = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(#"{"models": ["normal"], "ranking_users": 0}"#), runID: "third").run()
        #expect(run.status == "succeeded")
        let ghost = try #require(try Registry(database: world.database).run(id: "ghost"))
        #expect(ghost.status == "failed")
        #expect(ghost.error?.contains("abandoned") == true)
    }

    @Test func aFailedRunLeavesTheChampionAlone() throws {
        let world = try world(ratings: 5_000)
        _ = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(#"{"models": ["normal"], "ranking_users": 0}"#), runID: "ok").run()
        let broken = ArtifactStore(client: world.store.client, bucket: "no-such-bucket-anywhere")
        do {
            _ = try TrainingPipeline(database: world.database, store: broken, settings: try settings(#"{"models": ["svd"], "force": true, "ranking_users": 0}"#), runID: "bad").run()
            Issue.record("wrote to a missing bucket")
        } catch {
            #expect(error.details["run_id"] == .string("bad"))
        }
        let failed = try #require(try Registry(database: world.database).run(id: "bad"))
        #expect(failed.status == "failed")
        #expect(failed.error?.isEmpty == false)
        #expect(try Registry(database: world.database).champion()?.runId == "ok")
    }

    @Test func filtersAndSamplesAreApplied() throws {
        let world = try world(ratings: 5_000)
        let run = try TrainingPipeline(database: world.database, store: world.store,
                                       settings: try settings(#"{"models": ["normal"], "ranking_users": 0, "sample_size": 2000, "min_user_ratings": 20}"#), runID: "sampled").run()
        #expect(run.data?["ratings"]?.int == 2_000)
        #expect(run.data?["all_ratings"]?.int == 5_000)
        let strict = try TrainingPipeline(database: world.database, store: world.store,
                                          settings: try settings(#"{"models": ["normal"], "ranking_users": 0, "min_movie_ratings": 10}"#), runID: "filtered").run()
        let kept = try world.database.execute("SELECT sum(count) FROM movie_stats WHERE count >= 10").int(0, 0)
        #expect(strict.data?["ratings"]?.int == kept)
    }

    @Test func anEmptyDatabaseSaysImportFirst() throws {
        let world = try world(ratings: 0)
        do {
            _ = try TrainingPipeline(database: world.database, store: world.store, settings: try settings(), runID: "empty").run()
            Issue.record("trained on nothing")
        } catch {
            #expect(error.status == 409)
            #expect(error.message.contains("import data first"))
        }
    }

    @Test func theTrainFunctionAnswersEveryRoute() throws {
        let world = try world(ratings: 5_000)
        // Before the first run: an idle status, as the reference answers, and no run fields.
        let idle = try FunctionProcess.run("train", event: apiGatewayEvent("GET", "/training/status"), environment: world.environment)
        #expect(idle.json?["statusCode"]?.int == 200, "\(idle.stderr)")
        let idleBody = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(idle.json?["body"]?.stringValue).utf8))
        #expect(idleBody == .object(["status": .string("idle")]))
        // POST /training/ hands the run to the function itself through the Invoke API: outside
        // Lambda and the runner there is none, and it says so without queueing anything.
        let outside = try FunctionProcess.run("train", event: apiGatewayEvent("POST", "/training/", body: #"{"models": ["normal"]}"#), environment: world.environment)
        #expect(outside.json?["statusCode"]?.int == 503, "\(outside.stderr)")
        #expect(outside.json?["body"]?.stringValue?.contains("AWS_LAMBDA_FUNCTION_NAME") == true)
        let trained = try FunctionProcess.run("train", event: #"{"action": "train", "models": ["svd", "normal"], "ranking_users": 20}"#, environment: world.environment)
        #expect(trained.json?["status"]?.stringValue == "succeeded", "\(trained.stderr)")
        let runID = try #require(trained.json?["run_id"]?.stringValue)

        let status = try FunctionProcess.run("train", event: apiGatewayEvent("GET", "/training/status", query: ["run_id": runID]), environment: world.environment)
        #expect(status.json?["statusCode"]?.int == 200)
        let latest = try FunctionProcess.run("train", event: #"{"action": "status"}"#, environment: world.environment)
        #expect(latest.json?["run_id"]?.stringValue == runID)
        let runs = try FunctionProcess.run("train", event: apiGatewayEvent("GET", "/training/runs"), environment: world.environment)
        #expect(runs.json?["statusCode"]?.int == 200)
        let models = try FunctionProcess.run("train", event: #"{"action": "models"}"#, environment: world.environment)
        #expect(models.json?["champion"]?["version"]?.int == 1)
        #expect(models.json?["name"]?.stringValue == "Best_Film_Recommender")

        let missing = try FunctionProcess.run("train", event: apiGatewayEvent("GET", "/training/status", query: ["run_id": "nope"]), environment: world.environment)
        #expect(missing.json?["statusCode"]?.int == 404)
        let bad = try FunctionProcess.run("train", event: apiGatewayEvent("POST", "/training/", body: #"{"folds": 0}"#), environment: world.environment)
        #expect(bad.json?["statusCode"]?.int == 400)
        // An Invoke API that cannot be reached: 503, and the run it queued is failed with the
        // reason, so it blocks no later run.
        var unreachable = world.environment
        unreachable["AWS_LAMBDA_FUNCTION_NAME"] = "TrainFunction"
        unreachable["AWS_ENDPOINT_URL_LAMBDA"] = "http://127.0.0.1:9"
        let lost = try FunctionProcess.run("train", event: apiGatewayEvent("POST", "/training/", body: #"{"models": ["normal"]}"#), environment: unreachable)
        #expect(lost.json?["statusCode"]?.int == 503, "\(lost.stderr)")
        let failed = try FunctionProcess.run("train", event: #"{"action": "runs", "limit": 1}"#, environment: world.environment)
        #expect(failed.json?["runs"]?.array?.first?["status"]?.stringValue == "failed")
        #expect(failed.json?["runs"]?.array?.first?["error"]?.stringValue?.hasPrefix("not started") == true)
        var noBucket = world.environment
        noBucket["ARTIFACT_BUCKET"] = ""
        let unconfigured = try FunctionProcess.run("train", event: #"{"action": "train"}"#, environment: noBucket)
        #expect(unconfigured.status == 1)
        #expect(unconfigured.json?["error"]?["code"]?.stringValue == "dependency_unavailable")
    }
}
