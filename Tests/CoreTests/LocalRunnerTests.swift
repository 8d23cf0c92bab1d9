import Foundation
import Testing
@testable import Core

/// The local runner as a user meets it: the built binary, the repository's template, real
/// functions in warm pools, PostgreSQL and moto_server behind them.
@Suite(.serialized) struct LocalRunnerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A runner on free ports with its own data directory (its S3 store, credentials, schedule
    /// history; its PostgreSQL too when the environment names none).
    final class Runner: @unchecked Sendable {
        let process: Process
        let base: String
        let s3: String
        let dataDirectory: String
        let output = Pipe()

        init(environment: [String: String], template: String? = nil, functions: String? = nil, extra: [String] = [], dataDirectory: String? = nil,
             startTimeout: Double = 120) throws {
            let port = freePort(), s3Port = freePort()
            self.dataDirectory = dataDirectory ?? TestServices.temporaryDirectory()
            process = Process()
            process.executableURL = FunctionProcess.binDirectory.appendingPathComponent("local-runner")
            process.arguments = ["--port", String(port), "--s3-port", String(s3Port), "--data-dir", self.dataDirectory,
                                 "--template", template ?? LocalRunnerTests.root.appendingPathComponent("template/template.yaml").path,
                                 "--functions", functions ?? FunctionProcess.binDirectory.path, "--demo-ratings", "0",
                                 // MLflow is started only by the tests about it (extra: ["--mlflow"]): it takes seconds.
                                 "--no-mlflow"] + extra
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "DATABASE_URL")
            for (key, value) in environment { env[key] = value }
            process.environment = env
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            base = "http://127.0.0.1:\(port)"
            s3 = "http://127.0.0.1:\(s3Port)"
            let deadline = Date().addingTimeInterval(startTimeout)
            while Date() < deadline {
                if (try? HTTPClient().send("GET", url: base + "/schedules", timeout: 1)) != nil { return }
                guard process.isRunning else { throw TestSetupError("local-runner exited with \(process.terminationStatus) at start") }
                usleep(100_000)
            }
            throw TestSetupError("local-runner did not start")
        }

        deinit { stop() }

        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<300 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        func send(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:], timeout: Double = 60) throws -> HTTPClient.Response {
            try HTTPClient().send(method, url: base + path, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a },
                                  body: body.map { .bytes(Data($0.utf8)) } ?? .none, timeout: timeout)
        }

        func json(_ response: HTTPClient.Response) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: response.body) }

        /// `local-runner credentials` for this data directory, as environment variables.
        func credentials() throws -> [String: String] {
            let text = try runCommand([FunctionProcess.binDirectory.appendingPathComponent("local-runner").path, "credentials", "--data-dir", dataDirectory]).output
            var values: [String: String] = [:]
            for line in text.split(separator: "\n") where line.hasPrefix("export ") {
                let parts = line.dropFirst(7).split(separator: "=", maxSplits: 1)
                if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
            }
            return values
        }
    }

    /// A migrated database with 5,000 ratings; the runner trains its first champion at start
    /// unless `train` is false (then it starts with --no-bootstrap).
    func environment(train: Bool = true, ratings: Int = 5_000, movies: Int? = nil) throws -> [String: String] {
        let (database, url) = try TestServices.migratedDatabase()
        _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: ratings, seed: 51, movies: movies).0), database: database, storage: nil)
        return ["DATABASE_URL": url]
    }

    @Test func templateRoutesAnswerThroughWarmWorkers() throws {
        let runner = try Runner(environment: try environment())
        let stats = try runner.send("GET", "/stats")
        #expect(stats.status == 200)
        #expect(runner.json(stats)?["ratings"]?.int == 5_000)
        let predict = try runner.send("POST", "/predict/", body: #"{"user_id": 3, "top_n": 4}"#)
        #expect(predict.status == 200)
        #expect(runner.json(predict)?["recommendations"]?.array?.count == 4)
        #expect(try runner.send("POST", "/predict", body: #"{"user_id": 3}"#).status == 200)  // with or without the trailing slash
        let random = try runner.send("GET", "/get-random-ratings?n=3&user_id=2")
        #expect(runner.json(random)?["ratings"]?.array?.allSatisfy { $0["user_id"]?.int == 2 } == true)
        let bad = try runner.send("POST", "/predict/", body: #"{"user_id": "x"}"#)
        #expect(bad.status == 400)
        #expect(runner.json(bad)?["error"]?["code"]?.stringValue == "invalid_input")
        #expect(try runner.send("GET", "/nowhere").status == 404)
        #expect(try runner.send("DELETE", "/stats").status == 405)
        let report = try runner.send("POST", "/monitoring/drift/baseline")
        #expect(report.status == 201)
        let page = try runner.send("GET", "/monitoring/drift/report?last_ratings=1000")
        #expect(page.status == 200)
        #expect(page.header("content-type")?.hasPrefix("text/html") == true)
        // The same workers answered: one cold start per function used.
        let health = try runner.send("GET", "/health")
        #expect(health.status == 200)
        #expect(runner.json(health)?["functions"]?["PredictFunction"]?["cold_starts"]?.int == 1)
        #expect((runner.json(health)?["functions"]?["PredictFunction"]?["invocations"]?.int ?? 0) >= 3)
    }

    @Test func parallelRequestsAreServedInParallel() throws {
        let runner = try Runner(environment: try environment())
        let statuses = Mutex<[Int]>([])
        // 16 threads of our own (concurrentPerform would run only as many as there are cores),
        // released together, each with several requests so that they overlap.
        let go = DispatchSemaphore(value: 0), done = DispatchGroup()
        for index in 0..<16 {
            done.enter()
            Thread {
                go.wait()
                for round in 0..<5 {
                    let status = (try? runner.send("POST", "/predict/", body: #"{"user_id": \#(index * 5 + round + 1), "top_n": 5}"#).status) ?? -1
                    statuses.withLock { $0.append(status) }
                }
                done.leave()
            }.start()
        }
        for _ in 0..<16 { go.signal() }
        done.wait()
        #expect(statuses.withLock { $0 } == Array(repeating: 200, count: 80))
        let workers = runner.json(try runner.send("GET", "/health"))?["functions"]?["PredictFunction"]?["cold_starts"]?.int ?? 0
        #expect(workers > 1 && workers <= 20)  // more than one worker, never more than the reserved concurrency
    }

    @Test func trainingIsAsynchronous() throws {
        let runner = try Runner(environment: try environment(train: false), extra: ["--no-bootstrap"])
        let started = try runner.send("POST", "/training/", body: #"{"models": ["normal"], "ranking_users": 0}"#)
        #expect(started.status == 202)
        let runID = try #require(runner.json(started)?["run_id"]?.stringValue)
        // Status answers while the run trains: the train function has executions to spare.
        #expect(try runner.send("GET", "/training/runs").status == 200)
        var status: JSONValue?
        for _ in 0..<200 {
            status = runner.json(try runner.send("GET", "/training/status?run_id=\(runID)"))
            if status?["status"]?.stringValue == "succeeded" { break }
            usleep(100_000)
        }
        #expect(status?["status"]?.stringValue == "succeeded")
        #expect(status?["parameters"]?["models"]?.array?.count == 1)
        // /health shows the new champion without asking the train function: the runner's view
        // is refreshed when the run's invocation ends.
        var champion: JSONValue?
        for _ in 0..<50 {
            champion = runner.json(try runner.send("GET", "/health"))?["champion"]
            if champion?["version"]?.int != nil { break }
            usleep(100_000)
        }
        #expect(champion?["version"]?.int == 1)
    }

    /// The deployed stack's path: the train function queues the run and invokes itself with
    /// InvocationType Event through the runner's Invoke API; a second start is refused at once.
    @Test func aSecondTrainingRequestIsRefusedAtOnce() throws {
        let runner = try Runner(environment: try environment(train: false), extra: ["--no-bootstrap"])
        // Long enough (5 folds of 100 epochs) that the run is still queued or running when the second request comes.
        let body = #"{"models": ["svd", "normal"], "folds": 5, "svd": {"epochs": 100}, "ranking_users": 0}"#
        let first = try runner.send("POST", "/training/", body: body)
        #expect(first.status == 202)
        let runID = try #require(runner.json(first)?["run_id"]?.stringValue)
        #expect(runner.json(first)?["status"]?.stringValue == "queued")
        let started = Date()
        let second = try runner.send("POST", "/training/", body: body)
        #expect(second.status == 409)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(runner.json(second)?["error"]?["details"]?["run_id"]?.stringValue == runID)
        #expect(runner.json(second)?["error"]?["message"]?.stringValue?.contains(runID) == true)
        var status: JSONValue?
        for _ in 0..<600 {
            status = runner.json(try runner.send("GET", "/training/status?run_id=\(runID)"))
            if ["succeeded", "failed"].contains(status?["status"]?.stringValue) { break }
            usleep(100_000)
        }
        #expect(status?["status"]?.stringValue == "succeeded")
        // Once it is done, the next start is accepted.
        #expect(try runner.send("POST", "/training/", body: #"{"models": ["normal"], "ranking_users": 0}"#).status == 202)
        let metrics = String(decoding: try runner.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"training_runs_total{trigger="api"} 2"#))
    }

    @Test func theInvokeAPIAnswersAsLambdaDoes() throws {
        let runner = try Runner(environment: try environment(train: false), extra: ["--no-bootstrap"])
        let ok = try runner.send("POST", "/2015-03-31/functions/ingest/invocations", body: #"{"action": "stats"}"#)
        #expect(ok.status == 200)
        #expect(runner.json(ok)?["ratings"]?.int == 5_000)
        let failed = try runner.send("POST", "/2015-03-31/functions/IngestFunction/invocations", body: #"{"action": "nope"}"#)
        #expect(failed.status == 200)
        #expect(failed.header("x-amz-function-error") == "Unhandled")
        #expect(runner.json(failed)?["errorType"]?.stringValue == "invalid_input")
        let event = try runner.send("POST", "/2015-03-31/functions/ingest/invocations", body: "{}", headers: ["X-Amz-Invocation-Type": "Event"])
        #expect(event.status == 202)
        let dry = try runner.send("POST", "/2015-03-31/functions/ingest/invocations", body: "{}", headers: ["X-Amz-Invocation-Type": "DryRun"])
        #expect(dry.status == 204)
        let missing = try runner.send("POST", "/2015-03-31/functions/nothing/invocations", body: "{}")
        #expect(missing.status == 404)
        #expect(missing.header("x-amzn-errortype") == "ResourceNotFoundException")
        let garbage = try runner.send("POST", "/2015-03-31/functions/ingest/invocations", body: "{not json")
        #expect(garbage.header("x-amzn-errortype") == "InvalidRequestContentException")
        let big = try runner.send("POST", "/2015-03-31/functions/ingest/invocations", body: String(repeating: "x", count: 7 * 1024 * 1024))
        #expect(big.status == 413)
    }

    /// --cold: one process per invocation over stdin/stdout, no warm worker left behind.
    @Test func coldModeStartsAProcessPerInvocation() throws {
        let runner = try Runner(environment: try environment(train: false), extra: ["--no-bootstrap", "--cold"])
        for _ in 0..<2 {
            let stats = try runner.send("GET", "/stats")
            #expect(stats.status == 200)
            #expect(runner.json(stats)?["ratings"]?.int == 5_000)
        }
        #expect(try runner.send("POST", "/predict/", body: #"{"user_id": "x"}"#).status == 400)
        #expect(try childProcesses(of: runner.process.processIdentifier, named: "ingest").isEmpty, "no worker stays up")
        let pools = runner.json(try runner.send("GET", "/health"))?["functions"]
        #expect(pools?["IngestFunction"]?["workers"]?.int == 0)
    }

    /// Idle workers are stopped after --idle-timeout; the next request starts a new one.
    @Test func idleWorkersAreReclaimed() throws {
        let runner = try Runner(environment: try environment(train: false), extra: ["--no-bootstrap", "--idle-timeout", "1"])
        #expect(try runner.send("GET", "/stats").status == 200)
        #expect(runner.json(try runner.send("GET", "/health"))?["functions"]?["IngestFunction"]?["workers"]?.int == 1)
        var workers: Int?
        for _ in 0..<50 {
            usleep(200_000)
            workers = try childProcesses(of: runner.process.processIdentifier, named: "ingest").count
            if workers == 0 { break }
        }
        #expect(workers == 0, "the idle ingest worker was stopped")
        #expect(try runner.send("GET", "/stats").status == 200)
        let stats = runner.json(try runner.send("GET", "/health"))?["functions"]?["IngestFunction"]
        #expect((stats?["cold_starts"]?.int ?? 0) >= 2)
    }

    @Test func crashedWorkersAnswer502AndAreReplaced() throws {
        let runner = try Runner(environment: try environment(train: false), extra: ["--no-bootstrap"])
        #expect(try runner.send("GET", "/stats").status == 200)
        // A long request, and its worker killed under it.
        let outcome = Mutex<Int>(0)
        let request = Thread {
            let status = (try? runner.send("POST", "/generate-ratings?batch_size=100000&spread_days=2").status) ?? -1
            outcome.withLock { $0 = status }
        }
        request.start()
        usleep(300_000)
        let pids = try childProcesses(of: runner.process.processIdentifier, named: "ingest")
        #expect(!pids.isEmpty)
        for pid in pids { kill(pid, SIGKILL) }
        for _ in 0..<200 where outcome.withLock({ $0 }) == 0 { usleep(50_000) }
        #expect(outcome.withLock { $0 } == 502)
        #expect(try runner.send("GET", "/stats").status == 200)  // a new worker took its place
    }

    @Test func functionsTimeOutWith504() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // The ingest function's timeout (its first after "IngestFunction:") cut to 1 s.
        var text = try String(contentsOf: root.appendingPathComponent("template/template.yaml"), encoding: .utf8)
        let ingest = try #require(text.range(of: "  IngestFunction:"))
        let timeout = try #require(text.range(of: "      Timeout: 900\n", range: ingest.upperBound..<text.endIndex))
        text.replaceSubrange(timeout, with: "      Timeout: 1\n")
        let template = TestServices.temporaryDirectory() + "/template.yaml"
        try text.write(toFile: template, atomically: true, encoding: .utf8)
        let runner = try Runner(environment: try environment(train: false), template: template, extra: ["--no-bootstrap"])
        let slow = try runner.send("POST", "/generate-ratings?batch_size=100000&spread_days=2")
        #expect(slow.status == 504)
        #expect(try runner.send("GET", "/stats").status == 200)
    }

    /// No DATABASE_URL, an empty data directory: the runner makes its PostgreSQL, its S3 store and
    /// credentials, imports a demo dataset, trains, serves; SIGTERM stops PostgreSQL cleanly.
    @Test func startsFromNothing() throws {
        let data = TestServices.temporaryDirectory()
        let runner = try Runner(environment: [:], extra: ["--demo-ratings", "4000"], dataDirectory: data, startTimeout: 300)
        let health = try runner.send("GET", "/health")
        #expect(health.status == 200, "\(String(decoding: health.body, as: UTF8.self))")
        #expect(runner.json(health)?["database"]?.stringValue == "ok")
        #expect(runner.json(health)?["storage"]?.stringValue == "ok")
        #expect(runner.json(health)?["champion"]?["version"]?.int != nil)
        #expect(runner.json(try runner.send("GET", "/stats"))?["ratings"]?.int == 4_000)
        #expect(runner.json(try runner.send("POST", "/predict/", body: #"{"user_id": 1, "top_n": 3}"#))?["recommendations"]?.array?.count == 3)
        // The artifacts are in the runner's own S3, readable with its credentials by the aws cli.
        let credentials = try runner.credentials()
        #expect(credentials["AWS_ACCESS_KEY_ID"]?.isEmpty == false)
        #expect(credentials["AWS_ENDPOINT_URL_S3"] == runner.s3)
        let listing = try runCommand(["aws", "s3", "ls", "s3://movierec-artifacts/", "--recursive", "--endpoint-url", runner.s3], environment: credentials)
        #expect(listing.status == 0, "\(listing.errors)")
        #expect(listing.output.contains("models/"), "\(listing.output)")
        let postgresPID = try #require(try? String(contentsOfFile: data + "/postgres/postmaster.pid", encoding: .utf8))
        #expect(!postgresPID.isEmpty)
        runner.stop()
        #expect(runner.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: data + "/postgres/postmaster.pid"), "PostgreSQL was stopped")
        // A second start finds everything in place: no import, no training.
        let again = try Runner(environment: [:], extra: ["--demo-ratings", "4000"], dataDirectory: data, startTimeout: 120)
        #expect(again.json(try again.send("GET", "/stats"))?["ratings"]?.int == 4_000)
        #expect(again.json(try again.send("GET", "/training/runs"))?["runs"]?.array?.count == 1)
    }

    /// `--dataset ml-latest-small`: downloaded (from a local stand-in for GroupLens), imported,
    /// trained on; a second start on a fresh database imports it again from the runner's cache.
    @Test func startsOnAMovieLensDatasetByName() throws {
        let server = try MovieLensDownloadTests.Mirror()
        let files = try synthesized(ratings: 5_000, seed: 52).0
        let made = try runCommand(["python3", MovieLensDownloadTests.script, "--zip", files, "ml-latest-small", server.root])
        #expect(made.status == 0, "\(made.errors)")
        let data = TestServices.temporaryDirectory()
        let mirror = ["MOVIELENS_BASE_URL": server.base, "MOVIELENS_CACHE": ""]
        let first = try Runner(environment: mirror.merging(["DATABASE_URL": try TestServices.makeDatabase()]) { a, _ in a },
                               extra: ["--dataset", "ml-latest-small"], dataDirectory: data, startTimeout: 300)
        #expect(first.json(try first.send("GET", "/stats"))?["ratings"]?.int == 5_000)
        #expect(first.json(try first.send("GET", "/training/runs"))?["runs"]?.array?.count == 1)
        #expect(FileManager.default.fileExists(atPath: data + "/movielens/ml-latest-small.zip"))
        #expect(server.requests == ["GET /ml-latest-small.zip.md5 -", "GET /ml-latest-small.zip -"])
        first.stop()
        let second = try Runner(environment: mirror.merging(["DATABASE_URL": try TestServices.makeDatabase()]) { a, _ in a },
                                extra: ["--dataset", "ml-latest-small", "--no-scheduler"], dataDirectory: data, startTimeout: 300)
        #expect(second.json(try second.send("GET", "/stats"))?["ratings"]?.int == 5_000)
        #expect(server.requests.count == 2, "the second start downloads nothing")
        // An unknown name stops the start with the names that exist.
        second.stop()
        let output = Pipe()
        let bad = Process()
        bad.executableURL = FunctionProcess.binDirectory.appendingPathComponent("local-runner")
        bad.arguments = ["--port", "0", "--s3-port", "0", "--data-dir", TestServices.temporaryDirectory(), "--dataset", "ml-30m", "--no-scheduler", "--no-mlflow",
                         "--functions", FunctionProcess.binDirectory.path, "--template", LocalRunnerTests.root.appendingPathComponent("template/template.yaml").path]
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = try TestServices.makeDatabase()
        bad.environment = env
        bad.standardOutput = FileHandle.nullDevice
        bad.standardError = output
        try bad.run()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        bad.waitUntilExit()
        #expect(bad.terminationStatus != 0)
        #expect(said.contains("unknown MovieLens dataset 'ml-30m': the names are ml-latest-small"), "\(said.suffix(2000))")
    }

    /// `--mlflow`: the runner starts `mlflow server` as its child (SQLite under the data
    /// directory, artifacts in its own S3), prints its URL, mirrors the first champion once it is
    /// up and every later run as it ends, and stops it on SIGTERM.
    @Test func theRunnerManagesAnMLflowServer() throws {
        let mlflowPort = freePort()
        let runner = try Runner(environment: try environment(), extra: ["--mlflow", "--mlflow-port", String(mlflowPort), "--no-scheduler"], startTimeout: 300)
        let printed = String(decoding: runner.output.fileHandleForReading.availableData, as: UTF8.self)
        #expect(printed.contains("mlflow  http://127.0.0.1:\(mlflowPort)"), "\(printed)")
        func latest() throws -> JSONValue? { runner.json(try runner.send("GET", "/training/runs"))?["runs"]?.array?.first }
        // The first champion was trained before MLflow answered: it is mirrored once it does.
        let deadline = Date().addingTimeInterval(240)
        while Date() < deadline, try latest()?["mlflow"]?["status"]?.stringValue != "mirrored" { usleep(500_000) }
        let first = try latest()
        #expect(first?["mlflow"]?["status"]?.stringValue == "mirrored", "\(String(describing: first))")
        // A run over the API is mirrored as it ends, with its trigger.
        let started = try runner.send("POST", "/training/", body: #"{"models": ["normal"], "ranking_users": 10}"#)
        #expect(started.status == 202)
        let runID = try #require(runner.json(started)?["run_id"]?.stringValue)
        var run: JSONValue?
        // The record says succeeded as soon as the registry has the version; the mirror follows.
        for _ in 0..<600 {
            run = runner.json(try runner.send("GET", "/training/status?run_id=\(runID)"))
            if run?["status"]?.stringValue == "failed" || run?["mlflow"]?["status"] != nil { break }
            usleep(200_000)
        }
        #expect(run?["status"]?.stringValue == "succeeded")
        #expect(run?["parameters"]?["trigger"]?.stringValue == "api")
        #expect(run?["mlflow"]?["status"]?.stringValue == "mirrored", "\(String(describing: run))")
        let page = try #require(run?["mlflow"]?["url"]?.stringValue)
        #expect(page.hasPrefix("http://127.0.0.1:\(mlflowPort)/#/experiments/"))
        // The MLflow run carries the trigger, read back over MLflow's own API.
        let mlflowRun = try #require(run?["mlflow"]?["run_id"]?.stringValue)
        let fetched = try HTTPClient().send("GET", url: "http://127.0.0.1:\(mlflowPort)/api/2.0/mlflow/runs/get?run_id=\(mlflowRun)")
        let tags = (try? JSONDecoder().decode(JSONValue.self, from: fetched.body))?["run"]?["data"]?["tags"]?.array ?? []
        #expect(tags.contains { $0["key"]?.stringValue == "movierec.trigger" && $0["value"]?.stringValue == "api" },
                "\(String(decoding: fetched.body, as: UTF8.self).prefix(1500))")
        // The artifacts went to the runner's S3, under mlflow/.
        let listing = try runCommand(["aws", "s3", "ls", "s3://movierec-artifacts/mlflow/", "--recursive", "--endpoint-url", runner.s3],
                                     environment: try runner.credentials())
        #expect(listing.output.contains("model/model.bin"), "\(listing.output)\(listing.errors)")
        // The training page links each run to its MLflow page.
        let check = try runCommand(["python3", LocalRunnerTests.root.appendingPathComponent("Tests/ui/check-ui.py").path, runner.base,
                                    TestServices.temporaryDirectory()], environment: ["PAGES": "training-mlflow"])
        #expect(check.status == 0, "\(check.output)\n\(check.errors)")
        runner.stop()
        #expect(!LocalRunnerTests.listening(mlflowPort), "MLflow was stopped with the runner")
    }

    static func listening(_ port: Int) -> Bool {
        (try? HTTPClient().send("GET", url: "http://127.0.0.1:\(port)/health", timeout: 2)) != nil
    }

    /// The Invoke API as the AWS CLI and boto3 call it.
    @Test func theInvokeAPIWorksWithAWSClients() throws {
        let runner = try Runner(environment: try environment(train: false), extra: ["--no-bootstrap"])
        let credentials = try runner.credentials()
        let out = TestServices.temporaryDirectory() + "/out.json"
        let cli = try runCommand(["aws", "lambda", "invoke", "--endpoint-url", runner.base, "--function-name", "ingest",
                                  "--payload", #"{"action": "stats"}"#, out], environment: credentials)
        #expect(cli.status == 0, "\(cli.errors)")
        #expect(cli.output.contains("\"StatusCode\": 200"), "\(cli.output)")
        let answer = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(answer["ratings"]?.int == 5_000)
        let script = """
            import boto3, json, sys
            client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1")
            ok = client.invoke(FunctionName="ingest", Payload=json.dumps({"action": "stats"}))
            bad = client.invoke(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:IngestFunction", Payload=json.dumps({"action": "nope"}))
            event = client.invoke(FunctionName="ingest", InvocationType="Event", Payload=b"{}")
            dry = client.invoke(FunctionName="ingest", InvocationType="DryRun")
            try:
                client.invoke(FunctionName="nothing", Payload=b"{}")
                missing = "no error"
            except client.exceptions.ResourceNotFoundException:
                missing = "ResourceNotFoundException"
            print(json.dumps({"ok": json.load(ok["Payload"])["ratings"], "ok_status": ok["StatusCode"],
                              "bad_error": bad.get("FunctionError"), "bad_type": json.load(bad["Payload"]).get("errorType"),
                              "event": event["StatusCode"], "dry": dry["StatusCode"], "missing": missing}))
            """
        let boto = try runCommand(["python3", "-c", script, runner.base], environment: credentials)
        #expect(boto.status == 0, "\(boto.errors)")
        let result = try JSONDecoder().decode(JSONValue.self, from: Data(boto.output.utf8))
        #expect(result["ok"]?.int == 5_000)
        #expect(result["ok_status"]?.int == 200)
        #expect(result["bad_error"]?.stringValue == "Unhandled")
        #expect(result["bad_type"]?.stringValue == "invalid_input")
        #expect(result["event"]?.int == 202)
        #expect(result["dry"]?.int == 204)
        #expect(result["missing"]?.stringValue == "ResourceNotFoundException")
    }

    /// /metrics after real traffic: the reference names, bounded labels, promtool's approval.
    @Test func metricsDescribeTheTraffic() throws {
        let runner = try Runner(environment: try environment())
        for user in 1...3 { _ = try runner.send("POST", "/predict/", body: #"{"user_id": \#(user)}"#) }
        _ = try runner.send("GET", "/get-random-ratings?n=2&user_id=7")
        _ = try runner.send("GET", "/nowhere/\(UUID().uuidString)")
        _ = try runner.send("POST", "/monitoring/drift/baseline")
        _ = try runner.send("GET", "/monitoring/drift?last_ratings=1000")
        let text = String(decoding: try runner.send("GET", "/metrics").body, as: UTF8.self)
        #expect(text.contains(#"api_requests_total{method="POST",endpoint="/predict/",status="200"} 3"#))
        #expect(text.contains(#"api_requests_total{method="GET",endpoint="/get-random-ratings",status="200"} 1"#))
        #expect(text.contains(#"api_requests_total{method="GET",endpoint="unmatched",status="404"} 1"#), "never the raw path")
        #expect(!text.contains("/nowhere/"))
        #expect(text.contains("recommendations_total 3\n"))
        #expect(text.contains(#"training_runs_total{trigger="startup"} 1"#))
        #expect(text.contains(#"function_cold_starts_total{function="predict"} 1"#))
        #expect(text.contains(#"function_warm_workers{function="predict"} 1"#))
        #expect(text.contains(#"drift_feature_detected{feature="rating"}"#))
        #expect(text.contains("champion_model_version 1\n"))
        #expect(text.contains("champion_model_rmse "))
        let lint = try runCommand(["promtool", "check", "metrics"], input: text)
        #expect(lint.status == 0, "\(lint.output)\(lint.errors)")
        // The dashboard uses only metrics this runner exports.
        let file = TestServices.temporaryDirectory() + "/metrics.txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let dashboard = try runCommand(["python3", LocalRunnerTests.root.appendingPathComponent("Tests/support/check-dashboard.py").path,
                                        LocalRunnerTests.root.appendingPathComponent("template/grafana/dashboards/movierec.json").path, file])
        #expect(dashboard.status == 0, "\(dashboard.output)\(dashboard.errors)")
        // And every panel's query runs in a real Prometheus scraping this runner.
        let queries = try runCommand(["python3", LocalRunnerTests.root.appendingPathComponent("Tests/support/check-dashboard-queries.py").path, runner.base])
        #expect(queries.status == 0, "\(queries.output)\(queries.errors)")
    }

    /// The operator UI in headless Chromium: every page with the API's data, one interaction
    /// each (Tests/ui/check-ui.py); the screenshots stay in the printed directory.
    @Test func theUIWorksInARealBrowser() throws {
        // A catalogue large enough that the nightly run's 20,000 new ratings (run from the home
        // page) leave every user movies to be recommended.
        let runner = try Runner(environment: try environment(ratings: 10_000, movies: 3_000))
        let shots = TestServices.temporaryDirectory() + "/ui-screenshots"
        let check = try runCommand(["python3", LocalRunnerTests.root.appendingPathComponent("Tests/ui/check-ui.py").path, runner.base, shots])
        #expect(check.status == 0, "\(check.output)\n\(check.errors)")
        #expect(check.output.contains("all pages ok"), "\(check.output)")
        let pictures = (try? FileManager.default.contentsOfDirectory(atPath: shots)) ?? []
        #expect(pictures.filter { $0.hasSuffix(".png") }.count >= 10, "screenshots in \(shots)")
    }

    /// The monitoring page on a dataset whose newest rating is years old, as MovieLens is.
    @Test func theMonitoringPageFallsBackOnAHistoricalDataset() throws {
        let (database, url) = try TestServices.migratedDatabase()
        _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: 12_000, seed: 53).0), database: database, storage: nil)
        let newest = try #require(try database.execute(#"SELECT max("timestamp") FROM ratings"#).int(0, 0))
        let yearsAgo = Int(Date().timeIntervalSince1970) - 3 * 365 * 86_400
        try database.execute(#"UPDATE ratings SET "timestamp" = "timestamp" - $1"#, [newest - yearsAgo])
        let runner = try Runner(environment: ["DATABASE_URL": url], extra: ["--no-bootstrap", "--no-scheduler"])
        #expect(try runner.send("POST", "/monitoring/drift/baseline").status == 201)
        let shots = TestServices.temporaryDirectory() + "/ui-screenshots"
        let check = try runCommand(["python3", LocalRunnerTests.root.appendingPathComponent("Tests/ui/check-ui.py").path, runner.base, shots],
                                   environment: ["PAGES": "monitoring-historical"])
        #expect(check.status == 0, "\(check.output)\n\(check.errors)")
        #expect(check.output.contains("all pages ok"), "\(check.output)")
    }

    func childProcesses(of parent: Int32, named name: String) throws -> [Int32] {
        var result: [Int32] = []
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else { continue }
            // pid (comm) state ppid ...
            guard let close = stat.lastIndex(of: ")") else { continue }
            let comm = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if comm == name, fields.count > 1, Int32(fields[1]) == parent { result.append(pid) }
        }
        return result
    }
}
