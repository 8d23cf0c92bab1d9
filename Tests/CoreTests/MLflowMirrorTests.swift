import Foundation
import Testing
@testable import Core

/// The MLflow mirror against a real `mlflow server` (one per test process, like moto_server),
/// checked with MLflow's own Python client and its UI in headless Chromium.
@Suite(.serialized) struct MLflowMirrorTests {
    static let checker = LocalRunnerTests.root.appendingPathComponent("Tests/support/check_mlflow.py").path

    /// A catalogue, an empty bucket and a fresh experiment name per test.
    struct Setup {
        let database: Database
        let store: ArtifactStore
        let experiment = "MovieRec test " + UUID().uuidString.prefix(8)

        init() throws {
            let (database, _) = try TestServices.migratedDatabase()
            _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: 6_000, seed: 61).0), database: database, storage: nil)
            let client = try TestServices.s3Client()
            self.database = database
            self.store = ArtifactStore(client: client, bucket: try TestServices.freshBucket(client))
        }

        func train(force: Bool = false) throws -> TrainingRun {
            var request = TrainRequest()
            request.models = ["normal", "svd"]
            request.force = force
            request.rankingUsers = 50
            return try TrainingPipeline(database: database, store: store, settings: try request.resolved(), runID: UUID().uuidString.lowercased(),
                                        request: .object(force ? ["force": .bool(true)] : [:])).run()
        }

        func record(_ runID: String) throws -> TrainingRun { try #require(try Registry(database: database).run(id: runID)) }

        /// Runs `check_mlflow.py` on what our registry says MLflow must hold.
        func check(_ runs: [TrainingRun], trackingURI: String, ui: String? = nil) throws -> (Int32, String) {
            let directory = TestServices.temporaryDirectory()
            var expected: [[String: Any]] = []
            for run in runs {
                let version = try #require(run.modelVersion)
                let file = directory + "/v\(version).bin"
                try store.client.download(bucket: store.bucket, key: "models/\(Registry.modelName)/v\(version)/model.bin", to: file)
                expected.append(["run_id": run.runId, "version": version, "model_file": file, "promoted": run.decision?["promoted"]?.boolValue ?? false])
            }
            let champion = try #require(try Registry(database: database).champion())
            let document: [String: Any] = ["tracking_uri": trackingURI, "experiment": experiment, "runs": expected,
                                           "champion_version": champion.version, "models": ["NormalPredictor", "SVD"]]
            let path = directory + "/expected.json"
            try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
            let result = try runCommand(["python3", MLflowMirrorTests.checker, path] + (ui.map { ["--ui", $0] } ?? []))
            return (result.status, result.output + result.errors)
        }
    }

    @Test func twoTrainingsAreMirroredWithTheirModelsAndTheChampionAlias() throws {
        let server = try MLflowServer.shared.get()
        let setup = try Setup()
        let mirror = MLflowMirror(trackingURI: server, experiment: setup.experiment)
        let first = try setup.train()
        mirror.catchUp(database: setup.database, store: setup.store)
        let second = try setup.train()  // the same data and settings: it does not beat the champion
        #expect(second.decision?["promoted"]?.boolValue == false)
        mirror.catchUp(database: setup.database, store: setup.store)
        for run in [first, second] {
            let mlflow = try setup.record(run.runId).mlflow
            #expect(mlflow?["status"]?.stringValue == "mirrored", "\(String(describing: mlflow))")
            #expect(mlflow?["url"]?.stringValue?.hasPrefix("\(server)/#/experiments/") == true)
        }
        let shot = TestServices.temporaryDirectory() + "/mlflow-experiment.png"
        let (status, output) = try setup.check([first, second], trackingURI: server, ui: shot)
        #expect(status == 0, "\(output)")
        #expect(output.contains("\"ok\": true"), "\(output)")

        // Forced, a third run takes the champion, and the alias follows it.
        let third = try setup.train(force: true)
        mirror.catchUp(database: setup.database, store: setup.store)
        #expect(try Registry(database: setup.database).champion()?.version == third.modelVersion)
        let (again, said) = try setup.check([first, second, third], trackingURI: server)
        #expect(again == 0, "\(said)")
    }

    @Test func anUnreachableServerNeverFailsTrainingAndIsCaughtUpLater() throws {
        let server = try MLflowServer.shared.get()
        let setup = try Setup()
        // Down: nothing listens.
        let down = MLflowMirror(trackingURI: "http://127.0.0.1:\(freePort())", experiment: setup.experiment)
        let first = try setup.train()
        #expect(first.status == "succeeded")
        down.catchUp(database: setup.database, store: setup.store)
        let failed = try setup.record(first.runId).mlflow
        #expect(failed?["status"]?.stringValue == "failed")
        #expect(failed?["error"]?.stringValue?.contains("Couldn't connect") == true || failed?["error"]?.stringValue?.contains("connect") == true,
                "\(String(describing: failed))")
        #expect(try setup.record(first.runId).status == "succeeded")

        // Slow: a server that takes the connection and never answers costs the timeout, no more.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        let port = bindLoopback(silent)
        listen(silent, 16)
        let slow = MLflowMirror(trackingURI: "http://127.0.0.1:\(port)", experiment: setup.experiment, timeout: 1)
        let began = Date()
        slow.catchUp(database: setup.database, store: setup.store)
        #expect(Date().timeIntervalSince(began) < 5)
        #expect(try setup.record(first.runId).mlflow?["attempts"]?.int == 2)

        // Back: the next training run mirrors itself and the run that was missed.
        let second = try setup.train()
        let up = MLflowMirror(trackingURI: server, experiment: setup.experiment)
        up.catchUp(database: setup.database, store: setup.store)
        #expect(try setup.record(first.runId).mlflow?["status"]?.stringValue == "mirrored")
        #expect(try setup.record(second.runId).mlflow?["status"]?.stringValue == "mirrored")
        let (status, output) = try setup.check([first, second], trackingURI: server)
        #expect(status == 0, "\(output)")
    }
}

/// One `mlflow server` for the whole test process: SQLite backend, artifacts proxied to a local
/// directory, killed (with its workers: it runs in a session of its own) when the tests end.
enum MLflowServer {
    static let shared: Result<String, Error> = Result { try start() }

    static func start() throws -> String {
        let port = freePort()
        let directory = TestServices.temporaryDirectory()
        let watch = """
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid mlflow server --backend-store-uri sqlite:///\(directory)/mlflow.db --artifacts-destination \(directory)/artifacts \
              --host 127.0.0.1 --port \(port) --workers 1 >\(directory)/server.log 2>&1 & server=$!
            trap 'kill -9 -$server 2>/dev/null' EXIT TERM INT
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", watch]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let endpoint = "http://127.0.0.1:\(port)"
        for _ in 0..<1800 {
            if (try? HTTPClient().send("GET", url: endpoint + "/health", timeout: 1))?.status == 200 { return endpoint }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
        throw TestSetupError("mlflow server did not start on port \(port) (install it with `pip install mlflow`): \(log.suffix(800))")
    }
}
