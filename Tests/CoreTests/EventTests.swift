import Foundation
import Testing
@testable import Core

@Suite struct EventTests {
    @Test func apiGatewayEventsBecomeHTTPRequests() throws {
        let event = try Event.parse(Data(apiGatewayEvent("GET", "/get-random-ratings", query: ["n": "5", "user_id": "3"]).utf8))
        guard case .http(let request) = event else { Issue.record("not an HTTP event"); return }
        #expect(request.method == "GET")
        #expect(request.path == "/get-random-ratings")
        #expect(request.query == ["n": "5", "user_id": "3"])
        #expect(request.headers["user-agent"] == "tests")
        #expect(try request.integer("n", in: 1...10) == 5)
        #expect(throws: FunctionError.self) { try request.integer("n", in: 6...10) }
    }

    @Test func base64BodiesAreDecoded() throws {
        let event = try Event.parse(Data(apiGatewayEvent("POST", "/ratings", body: "{\"a\":1}", base64: true).utf8))
        guard case .http(let request) = event else { Issue.record("not an HTTP event"); return }
        #expect(String(decoding: request.body, as: UTF8.self) == "{\"a\":1}")
    }

    @Test func directEventsStayDirect() throws {
        guard case .direct = try Event.parse(Data("{\"user_id\": 42, \"top_n\": 10}".utf8)) else { Issue.record("expected direct"); return }
    }

    @Test func badEventsAreClearErrors() {
        #expect(throws: FunctionError.self) { try Event.parse(Data("nope".utf8)) }
        #expect(throws: FunctionError.self) { try Event.parse(Data("[1,2]".utf8)) }
        let big = Data(repeating: 0x20, count: Event.maximumSize + 1)
        do { _ = try Event.parse(big); Issue.record("accepted an oversized event") } catch { #expect(error.status == 413) }
    }

    @Test func routerMatchesWithOrWithoutTrailingSlash() throws {
        var router = Router<String>()
        router.on("POST", "/predict/", "predict")
        router.on("GET", "/stats", "stats")
        #expect(try router.match(HTTPRequest(method: "POST", path: "/predict")) == "predict")
        #expect(try router.match(HTTPRequest(method: "POST", path: "/predict/")) == "predict")
        #expect(try router.match(HTTPRequest(method: "GET", path: "/stats/")) == "stats")
        do { _ = try router.match(HTTPRequest(method: "DELETE", path: "/stats")); Issue.record("matched") } catch { #expect(error.status == 405) }
        do { _ = try router.match(HTTPRequest(method: "GET", path: "/nothing")); Issue.record("matched") } catch { #expect(error.status == 404) }
    }

    @Test func repliesFrameAsAPIGatewayResponses() throws {
        let reply = Reply.error(.notFound("no such user"))
        let document = try JSONDecoder().decode(JSONValue.self, from: reply.apiGatewayResponse())
        #expect(document["statusCode"]?.int == 404)
        #expect(document["headers"]?["content-type"]?.stringValue == "application/json")
        let body = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(document["body"]?.stringValue).utf8))
        #expect(body["error"]?["code"]?.stringValue == "not_found")
        #expect(body["error"]?["message"]?.stringValue == "no such user")
    }

    @Test func decodingErrorsNameTheField() {
        struct Request: Decodable { var userId: Int; enum CodingKeys: String, CodingKey { case userId = "user_id" } }
        do { _ = try JSON.decodeRequest(Request.self, from: Data("{\"user_id\": \"x\"}".utf8)) } catch {
            #expect(error.message.contains("user_id"))
            #expect(error.status == 400)
        }
        do { _ = try JSON.decodeRequest(Request.self, from: Data("{}".utf8)) } catch {
            #expect(error.message == "field 'user_id' is required")
        }
    }
}
