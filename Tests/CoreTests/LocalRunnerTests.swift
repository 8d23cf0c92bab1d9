import Foundation
import Testing
@testable import Core

/// The local runner as a user meets it: the built binary, the repository's template, real
/// functions in warm pools, PostgreSQL and moto_server behind them.
@Suite(.serialized) struct LocalRunnerTests {
    final class Runner: @unchecked Sendable {
        let process: Process
        let base: String
        let output = Pipe()

        init(environment: [String: String], template: String? = nil, extra: [String] = []) throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let port = freePort()
            process = Process()
            process.executableURL = FunctionProcess.binDirectory.appendingPathComponent("local-runner")
            process.arguments = ["--port", String(port), "--template", template ?? root.appendingPathComponent("template/template.yaml").path] + extra
            var env = ProcessInfo.processInfo.environment
            for (key, value) in environment { env[key] = value }
            process.environment = env
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            base = "http://127.0.0.1:\(port)"
            for _ in 0..<100 {
                if (try? HTTPClient().send("GET", url: base + "/nothing", timeout: 1)) != nil { return }
                usleep(50_000)
            }
            throw TestSetupError("local-runner did not start")
        }

        deinit {
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        func send(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:], timeout: Double = 60) throws -> HTTPClient.Response {
            try HTTPClient().send(method, url: base + path, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a },
                                  body: body.map { .bytes(Data($0.utf8)) } ?? .none, timeout: timeout)
        }

        func json(_ response: HTTPClient.Response) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: response.body) }
    }

    func environment(train: Bool = true) throws -> [String: String] {
        let (database, url) = try TestServices.migratedDatabase()
        _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: 5_000, seed: 51).0), database: database, storage: nil)
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        if train {
            let settings = try JSON.decodeRequest(TrainRequest.self, from: Data(#"{"models": ["svd"], "ranking_users": 0}"#.utf8)).resolved()
            _ = try TrainingPipeline(database: database, store: ArtifactStore(client: client, bucket: bucket), settings: settings, runID: "first").run()
        }
        let s3 = try TestServices.s3Configuration()
        return ["DATABASE_URL": url, "S3_ENDPOINT_URL": s3.endpoint, "AWS_REGION": s3.region, "AWS_ACCESS_KEY_ID": s3.accessKey,
                "AWS_SECRET_ACCESS_KEY": s3.secretKey, "ARTIFACT_BUCKET": bucket, "MODEL_CACHE_DIR": TestServices.temporaryDirectory()]
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
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            let status = (try? runner.send("POST", "/predict/", body: #"{"user_id": \#(index + 1), "top_n": 5}"#).status) ?? -1
            statuses.withLock { $0.append(status) }
        }
        #expect(statuses.withLock { $0 } == Array(repeating: 200, count: 16))
        let workers = runner.json(try runner.send("GET", "/health"))?["functions"]?["PredictFunction"]?["cold_starts"]?.int ?? 0
        #expect(workers > 1 && workers <= 20)  // more than one worker, never more than the reserved concurrency
    }

    @Test func trainingIsAsynchronous() throws {
        let runner = try Runner(environment: try environment(train: false))
        let started = try runner.send("POST", "/training/", body: #"{"models": ["normal"], "ranking_users": 0}"#)
        #expect(started.status == 202)
        let runID = try #require(runner.json(started)?["run_id"]?.stringValue)
        var status: JSONValue?
        for _ in 0..<200 {
            status = runner.json(try runner.send("GET", "/training/status?run_id=\(runID)"))
            if status?["status"]?.stringValue == "succeeded" { break }
            usleep(100_000)
        }
        #expect(status?["status"]?.stringValue == "succeeded")
        #expect(status?["parameters"]?["models"]?.array?.count == 1)
    }

    @Test func theInvokeAPIAnswersAsLambdaDoes() throws {
        let runner = try Runner(environment: try environment(train: false))
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

    @Test func crashedWorkersAnswer502AndAreReplaced() throws {
        let runner = try Runner(environment: try environment(train: false))
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
        let text = try String(contentsOf: root.appendingPathComponent("template/template.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "      MemorySize: 1024\n      Timeout: 900\n      ReservedConcurrentExecutions: 4", with: "      MemorySize: 1024\n      Timeout: 1\n      ReservedConcurrentExecutions: 4")
        let template = TestServices.temporaryDirectory() + "/template.yaml"
        try text.write(toFile: template, atomically: true, encoding: .utf8)
        let runner = try Runner(environment: try environment(train: false), template: template)
        let slow = try runner.send("POST", "/generate-ratings?batch_size=100000&spread_days=2")
        #expect(slow.status == 504)
        #expect(try runner.send("GET", "/stats").status == 200)
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
