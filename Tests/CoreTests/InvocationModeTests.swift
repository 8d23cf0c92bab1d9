import Foundation
import Testing
@testable import Core

/// Drives the built `ingest` executable the three ways it is invoked.
@Suite struct InvocationModeTests {
    func loadedDatabase() throws -> String {
        let url = try TestServices.makeDatabase()
        let database = try Database(url: url)
        try Migrations.apply(to: database)
        _ = try DatasetImporter.run(ImportRequest(source: try TinyDataset().write()), database: database, storage: nil)
        return url
    }

    @Test func directEventOnStdinAnswerOnStdout() throws {
        let url = try loadedDatabase()
        let outcome = try FunctionProcess.run("ingest", event: #"{"action": "stats"}"#, environment: ["DATABASE_URL": url])
        #expect(outcome.status == 0)
        #expect(outcome.json?["ratings"]?.int == 7)
        #expect(outcome.json?["movies"]?.int == 5)
        // stderr carries JSON lines only.
        for line in outcome.stderr.split(separator: "\n") {
            #expect((try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))) != nil, "not JSON: \(line)")
        }
    }

    @Test func directErrorsExitNonZeroWithTheErrorShape() throws {
        let url = try loadedDatabase()
        for (event, code) in [(#"{"action": "nope"}"#, "invalid_input"), ("{", "invalid_input"), (#"{"user_id": 1}"#, "invalid_input"),
                              (#"{"action": "rate", "user_id": 1, "ratings": [{"movie_id": 1, "rating": 9}]}"#, "invalid_input")] {
            let outcome = try FunctionProcess.run("ingest", event: event, environment: ["DATABASE_URL": url])
            #expect(outcome.status == 1)
            #expect(outcome.json?["error"]?["code"]?.stringValue == code, "\(event)")
            #expect(outcome.json?["error"]?["message"]?.stringValue?.isEmpty == false)
        }
    }

    @Test func aMissingDatabaseIs503() throws {
        let outcome = try FunctionProcess.run("ingest", event: #"{"action": "stats"}"#,
                                              environment: ["DATABASE_URL": "postgresql:///x?host=/nonexistent&port=1"])
        #expect(outcome.status == 1)
        #expect(outcome.json?["error"]?["code"]?.stringValue == "dependency_unavailable")
    }

    @Test func apiGatewayEventsGetHTTPAnswers() throws {
        let url = try loadedDatabase()
        let env = ["DATABASE_URL": url]
        let stats = try FunctionProcess.run("ingest", event: apiGatewayEvent("GET", "/stats"), environment: env)
        #expect(stats.status == 0)
        #expect(stats.json?["statusCode"]?.int == 200)
        #expect(stats.json?["headers"]?["content-type"]?.stringValue == "application/json")
        let body = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(stats.json?["body"]?.stringValue).utf8))
        #expect(body["ratings"]?.int == 7)

        let rated = try FunctionProcess.run("ingest", event: apiGatewayEvent("POST", "/ratings", body: #"{"user_id": 77, "ratings": [{"movie_id": 2, "rating": 4.5}]}"#, base64: true), environment: env)
        #expect(rated.json?["statusCode"]?.int == 200)

        let bad = try FunctionProcess.run("ingest", event: apiGatewayEvent("GET", "/get-random-ratings", query: ["n": "0"]), environment: env)
        #expect(bad.status == 0)  // an HTTP error is still a successful invocation
        #expect(bad.json?["statusCode"]?.int == 400)
        #expect(bad.json?["body"]?.stringValue?.contains("'n' must be between 1 and 1000") == true)

        let missing = try FunctionProcess.run("ingest", event: apiGatewayEvent("GET", "/nowhere"), environment: env)
        #expect(missing.json?["statusCode"]?.int == 404)
        let wrongMethod = try FunctionProcess.run("ingest", event: apiGatewayEvent("GET", "/ratings"), environment: env)
        #expect(wrongMethod.json?["statusCode"]?.int == 405)
        let malformed = try FunctionProcess.run("ingest", event: apiGatewayEvent("POST", "/ratings", body: "{not json"), environment: env)
        #expect(malformed.json?["statusCode"]?.int == 400)
    }

    /// `GET /health` is a route of the deployed stack: the ingest function's health action.
    @Test func healthRouteChecksTheDependencies() throws {
        let url = try loadedDatabase()
        // Storage that cannot answer: port 9 (discard) on loopback is closed.
        let env = ["DATABASE_URL": url, "ARTIFACT_BUCKET": "movierec-artifacts", "S3_ENDPOINT_URL": "http://127.0.0.1:9",
                   "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"]
        let health = try FunctionProcess.run("ingest", event: apiGatewayEvent("GET", "/health"), environment: env)
        #expect(health.json?["statusCode"]?.int == 503)
        let body = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(health.json?["body"]?.stringValue).utf8))
        #expect(body["error"]?["details"]?["storage"] != nil, "\(body)")
        #expect(body["error"]?["details"]?["database"] == nil, "\(body)")
        let strict = try FunctionProcess.run("ingest", event: apiGatewayEvent("GET", "/health", query: ["deep": "1"]), environment: env)
        #expect(strict.json?["statusCode"]?.int == 400)
    }

    @Test func runtimeAPILoopServesManyInvocationsWarm() throws {
        let url = try loadedDatabase()
        let stub = try RuntimeAPIStub()
        stub.enqueue(id: "req-1", event: #"{"action": "stats"}"#)
        stub.enqueue(id: "req-2", event: apiGatewayEvent("GET", "/stats"))
        stub.enqueue(id: "req-3", event: #"{"action": "rate", "user_id": 5, "ratings": [{"movie_id": 404, "rating": 3}]}"#)
        stub.enqueue(id: "req-4", event: #"{"action": "random", "n": 2}"#)
        let (process, _, _, _) = try FunctionProcess.launch("ingest", environment: ["DATABASE_URL": url, "AWS_LAMBDA_RUNTIME_API": stub.address])
        defer { process.terminate() }
        let posted = stub.posted(count: 4)
        #expect(posted.count == 4)
        guard posted.count == 4 else { return }
        #expect(posted[0].path == "/2018-06-01/runtime/invocation/req-1/response")
        #expect(try JSONDecoder().decode(JSONValue.self, from: posted[0].body)["ratings"]?.int == 7)
        #expect(posted[1].path == "/2018-06-01/runtime/invocation/req-2/response")
        #expect(try JSONDecoder().decode(JSONValue.self, from: posted[1].body)["statusCode"]?.int == 200)
        #expect(posted[2].path == "/2018-06-01/runtime/invocation/req-3/error")
        #expect(posted[2].headers["lambda-runtime-function-error-type"] == "unprocessable")
        let error = try JSONDecoder().decode(JSONValue.self, from: posted[2].body)
        #expect(error["errorType"]?.stringValue == "unprocessable")
        #expect(error["errorMessage"]?.stringValue?.contains("404") == true)
        #expect(posted[3].path == "/2018-06-01/runtime/invocation/req-4/response")
        #expect(process.isRunning)  // still warm, polling for the next event
    }

    @Test func runtimeInitErrorsAreReported() throws {
        let stub = try RuntimeAPIStub()
        var env = ["AWS_LAMBDA_RUNTIME_API": stub.address]
        env["DATABASE_URL"] = ""
        let (process, _, _, _) = try FunctionProcess.launch("ingest", environment: env)
        let posted = stub.posted(count: 1)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(posted.first?.path == "/2018-06-01/runtime/init/error")
        #expect(posted.first.map { String(decoding: $0.body, as: UTF8.self) }?.contains("DATABASE_URL") == true)
    }
}
