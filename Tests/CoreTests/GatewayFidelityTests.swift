import Foundation
import Testing
@testable import Core

/// The gateway against a function that shows what it received (Tests/support/functions/echo):
/// the API Gateway v2.0 event, the response mapping, CORS, concurrency, timeouts, crashes, and a
/// scheduled pipeline whose first step fails.
@Suite(.serialized) struct GatewayFidelityTests {
    static let functions = LocalRunnerTests.root.appendingPathComponent("Tests/support/functions").path
    static let template = LocalRunnerTests.root.appendingPathComponent("Tests/support/functions/echo-template.yaml").path

    func runner() throws -> LocalRunnerTests.Runner {
        let (_, url) = try TestServices.migratedDatabase()
        return try LocalRunnerTests.Runner(environment: ["DATABASE_URL": url], template: Self.template, functions: Self.functions, extra: ["--no-bootstrap"])
    }

    @Test func eventsAreWhatAPIGatewaySends() throws {
        let runner = try runner()
        // Raw HTTP, to send duplicate headers and mixed-case names exactly.
        let url = URL(string: runner.base) ?? URL(fileURLWithPath: "/")
        let request = "POST /echo?b=2&a=1&a=3&name=J%C3%B6rg+x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Custom: one\r\nx-custom: two\r\nCookie: s=1; t=2\r\n"
            + "Content-Type: application/json\r\nUser-Agent: fidelity\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"hello\": 1}\n"
        let raw = try rawExchange(host: "127.0.0.1", port: url.port ?? 0, request)
        let body = try #require(raw.split(separator: "\r\n\r\n", maxSplits: 1).last)
        let answer = try JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
        let event = try #require(answer["event"])
        #expect(event["version"]?.stringValue == "2.0")
        #expect(event["routeKey"]?.stringValue == "POST /echo")
        #expect(event["rawPath"]?.stringValue == "/echo")
        #expect(event["rawQueryString"]?.stringValue == "b=2&a=1&a=3&name=J%C3%B6rg+x")
        #expect(event["queryStringParameters"]?["a"]?.stringValue == "1,3")
        #expect(event["queryStringParameters"]?["name"]?.stringValue == "Jörg x")
        #expect(event["headers"]?["x-custom"]?.stringValue == "one,two")
        #expect(event["headers"]?["cookie"] == nil)
        #expect(event["cookies"]?.array?.compactMap(\.stringValue) == ["s=1", "t=2"])
        #expect(event["body"]?.stringValue == "{\"hello\": 1}\n")
        #expect(event["isBase64Encoded"] == .bool(false))
        let context = try #require(event["requestContext"])
        #expect(context["http"]?["method"]?.stringValue == "POST")
        #expect(context["http"]?["path"]?.stringValue == "/echo")
        #expect(context["http"]?["sourceIp"]?.stringValue == "127.0.0.1")
        #expect(context["http"]?["userAgent"]?.stringValue == "fidelity")
        #expect(context["stage"]?.stringValue == "$default")
        let epoch = try #require(context["timeEpoch"]?.double)
        #expect(abs(epoch - Date().timeIntervalSince1970 * 1000) < 60_000, "timeEpoch is in milliseconds")
        #expect(context["time"]?.stringValue?.hasSuffix("+0000") == true)
        // The Runtime API headers the worker saw.
        let runtime = try #require(answer["runtime_headers"])
        #expect(runtime["lambda-runtime-aws-request-id"]?.stringValue?.isEmpty == false)
        #expect(runtime["lambda-runtime-invoked-function-arn"]?.stringValue?.hasSuffix(":function:EchoFunction") == true)
        #expect(runtime["lambda-runtime-trace-id"]?.stringValue?.hasPrefix("Root=1-") == true)
        let deadline = try #require(runtime["lambda-runtime-deadline-ms"]?.stringValue.flatMap(Double.init))
        #expect(deadline > Date().timeIntervalSince1970 * 1000 && deadline < Date().timeIntervalSince1970 * 1000 + 3_500)

        // A fresh request id each time; path parameters; binary bodies in base64.
        let first = runner.json(try runner.send("GET", "/echo"))?["event"]?["requestContext"]?["requestId"]?.stringValue
        let second = runner.json(try runner.send("GET", "/echo"))?["event"]?["requestContext"]?["requestId"]?.stringValue
        #expect(first != nil && first != second)
        let item = runner.json(try runner.send("GET", "/items/42"))?["event"]
        #expect(item?["pathParameters"]?["id"]?.stringValue == "42")
        #expect(item?["routeKey"]?.stringValue == "GET /items/{id}")
        #expect(runner.json(try runner.send("GET", "/files/a/b/c.txt"))?["event"]?["pathParameters"]?["proxy"]?.stringValue == "a/b/c.txt")
        let binary = try HTTPClient().send("POST", url: runner.base + "/echo", headers: ["Content-Type": "application/octet-stream"],
                                           body: .bytes(Data([0, 255, 1, 254])), timeout: 10)
        let binaryEvent = try JSONDecoder().decode(JSONValue.self, from: binary.body)["event"]
        #expect(binaryEvent?["isBase64Encoded"] == .bool(true))
        #expect(binaryEvent?["body"]?.stringValue == Data([0, 255, 1, 254]).base64EncodedString())
    }

    @Test func answersAreMappedAsAPIGatewayMapsThem() throws {
        let runner = try runner()
        let bare = try runner.send("GET", "/bare")
        #expect(bare.status == 200)
        #expect(bare.header("content-type") == "application/json")
        #expect(runner.json(bare)?["hello"]?.stringValue == "world")
        let teapot = try runner.send("GET", "/status/418")
        #expect(teapot.status == 418)
        #expect(teapot.header("x-answer") == "yes")
        #expect(teapot.header("set-cookie") == "a=1, b=2", "one Set-Cookie per cookie (the client joins them)")
        let binary = try runner.send("GET", "/binary")
        #expect(binary.body == Data((0...255).map { UInt8($0) }))
        #expect(try runner.send("GET", "/malformed").status == 502)
        #expect(try runner.send("GET", "/nothing-here").status == 404)
        #expect(try runner.send("DELETE", "/echo").status == 405)
        let big = try runner.send("POST", "/echo", body: String(repeating: "x", count: 7 * 1024 * 1024))
        #expect(big.status == 413)
        // CORS as the template declares it.
        let preflight = try runner.send("OPTIONS", "/echo", headers: ["Origin": "http://ui.example", "Access-Control-Request-Method": "POST"])
        #expect(preflight.status == 204)
        #expect(preflight.header("access-control-allow-origin") == "http://ui.example")
        #expect(preflight.header("access-control-allow-headers") == "content-type, x-custom")
        #expect(preflight.header("access-control-max-age") == "300")
        #expect(try runner.send("GET", "/echo", headers: ["Origin": "http://elsewhere.example"]).header("access-control-allow-origin") == nil)
        // A page elsewhere cannot make the browser act on the runner: cross-site writes and
        // foreign Host names (DNS rebinding) are refused; the template's origins and the
        // runner's own pages are not.
        #expect(try runner.send("POST", "/echo", body: "{}", headers: ["Origin": "http://elsewhere.example", "Content-Type": "text/plain"]).status == 403)
        #expect(try runner.send("POST", "/2015-03-31/functions/echo/invocations", body: "{}", headers: ["Origin": "http://elsewhere.example"]).status == 403)
        #expect(try runner.send("GET", "/echo", headers: ["Host": "rebound.example:80"]).status == 403)
        #expect(try runner.send("POST", "/echo", body: "{}", headers: ["Origin": "http://ui.example"]).status == 200)
        let own = URL(string: runner.base)?.port ?? 0
        #expect(try runner.send("POST", "/echo", body: "{}", headers: ["Origin": "http://127.0.0.1:\(own)"]).status == 200)
        // HEAD answers carry no body, so the connection stays usable.
        let head = try runner.send("HEAD", "/echo")
        #expect(head.status == 405 && head.body.isEmpty)
        // A negative chunk size is a 400, not a crash.
        let chunked = try rawExchange(host: "127.0.0.1", port: own,
                                      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n-1\r\nxx\r\n0\r\n\r\n")
        #expect(chunked.hasPrefix("HTTP/1.1 400"))
        let good = try rawExchange(host: "127.0.0.1", port: own,
                                   "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n")
        #expect(good.hasPrefix("HTTP/1.1 200"))
        #expect(try runner.send("GET", "/echo").status == 200, "the runner is still up")
    }

    @Test func timeoutsThrottlingAndCrashes() throws {
        let runner = try runner()
        // Concurrency 1: while /slow holds the only worker, another request queues, then gets 429.
        let slowStatus = Mutex(0)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let status = (try? runner.send("GET", "/slow", timeout: 30).status) ?? -1
            slowStatus.withLock { $0 = status }
        }
        // Wait until /slow holds the worker (under load that takes a while).
        for _ in 0..<200 where runner.json(try runner.send("GET", "/health"))?["functions"]?["EchoFunction"]?["busy"]?.int != 1 { usleep(20_000) }
        let queued = try runner.send("GET", "/echo", timeout: 30)
        #expect(queued.status == 429)
        group.wait()
        #expect(slowStatus.withLock { $0 } == 504, "Timeout: 3 in the template")
        #expect(try runner.send("GET", "/echo").status == 200, "a fresh worker replaced the timed-out one")
        #expect(try runner.send("GET", "/crash").status == 502)
        #expect(try runner.send("GET", "/echo").status == 200, "and the crashed one")
        let metrics = String(decoding: try runner.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"function_throttles_total{function="echo"} 1"#))
        #expect(metrics.contains(#"api_requests_total{method="GET",endpoint="/slow",status="504"} 1"#))
        #expect(metrics.contains(#"function_cold_starts_total{function="echo"} 3"#))
    }

    @Test func aPipelineStopsAtAStepThatFailsTwice() throws {
        let runner = try runner()
        let schedules = runner.json(try runner.send("GET", "/schedules"))
        let failing = try #require(schedules?["schedules"]?.array?.first { $0["name"]?.stringValue == "failing" })
        #expect(failing["expression"]?.stringValue == "rate(1 hour)")
        #expect(failing["next_fire"]?.stringValue != nil)
        let started = try runner.send("POST", "/schedules/failing/run")
        #expect(started.status == 202)
        var run: JSONValue?
        for _ in 0..<100 {
            run = runner.json(try runner.send("GET", "/schedules/failing/runs"))?["runs"]?.array?.first
            if run?["status"]?.stringValue != "running" { break }
            usleep(100_000)
        }
        #expect(run?["status"]?.stringValue == "failed")
        #expect(run?["trigger"]?.stringValue == "manual")
        #expect(run?["steps"]?.array?.compactMap { $0["status"]?.stringValue } == ["failed", "skipped"])
        #expect(run?["steps"]?.array?.first?["attempts"]?.int == 2)
        #expect(run?["steps"]?.array?.first?["error"]?.stringValue?.contains("asked to fail") == true)
        #expect(try runner.send("POST", "/schedules/weekly/run").status == 404)
        let metrics = String(decoding: try runner.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"schedule_runs_total{schedule="failing",status="failed"} 1"#))
    }

    /// One request over a fresh socket, exactly as written; the whole answer.
    func rawExchange(host: String, port: Int, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw TestSetupError("cannot connect to \(host):\(port)") }
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
