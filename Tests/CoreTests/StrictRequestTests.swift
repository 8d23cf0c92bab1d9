import Foundation
import Testing
@testable import Core

/// Every route and every direct action refuses keys it does not know, names them, lists what it
/// accepts and suggests the closest name; the reference system's spellings are accepted.
@Suite struct StrictRequestTests {
    /// A function's routes with the names each accepts (the body type's or the parameters).
    struct Case { var function: FunctionHandler; var method: String; var path: String; var action: String; var accepted: AcceptedKeys; var isBody: Bool }

    static func bodyKeys(_ action: String) -> AcceptedKeys? {
        switch action {
        case "predict": PredictRequest.accepted
        case "batch": PredictFunction.BatchRequest.accepted
        case "import": ImportRequest.accepted
        case "rate": Ratings.RateRequest.accepted
        case "synthesize": SynthesizeRequest.accepted
        case "train", "submit": TrainRequest.accepted
        case "evaluate": EvaluateRequest.accepted
        default: nil
        }
    }

    static func cases() throws -> [Case] {
        func collect<A: StrictAction>(_ function: FunctionHandler, _ router: Router<A>) -> [Case] {
            router.routes.map { route in
                let accepted = route.action.parameters ?? bodyKeys(route.action.rawValue)!
                return Case(function: function, method: route.method, path: route.path, action: route.action.rawValue,
                            accepted: accepted, isBody: route.action.parameters == nil)
            }
        }
        return collect(try PredictFunction(), PredictFunction.routes) + collect(try IngestFunction(), IngestFunction.routes)
            + collect(try TrainFunction(), TrainFunction.routes) + collect(try DriftFunction(), DriftFunction.routes)
    }

    func answer(_ function: FunctionHandler, _ event: Event) -> (Int, JSONValue?) {
        let reply: Reply
        do { reply = try function.handle(event, context: InvocationContext(requestId: "t")) } catch { reply = .error(error) }
        return (reply.status, try? JSONDecoder().decode(JSONValue.self, from: reply.body))
    }

    /// A slip of the longest accepted name, and that name; or a key nothing resembles.
    func misspelling(_ accepted: AcceptedKeys) -> (typed: String, meant: String?) {
        guard let name = accepted.names.max(by: { $0.count < $1.count }) else { return ("bogus_key", nil) }
        return (String(name.dropLast()) + "x", name)
    }

    func expectRejected(_ status: Int, _ body: JSONValue?, typed: String, meant: String?, _ where: String) {
        #expect(status == 400, "\(`where`): \(String(describing: body))")
        let message = body?["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("'\(typed)'"), "\(`where`): \(message)")
        #expect(message.contains("accepted: "), "\(`where`): \(message)")
        if let meant { #expect(message.contains("did you mean \(meant)?"), "\(`where`): \(message)") }
        #expect(body?["error"]?["details"]?["unknown"] == .array([.string(typed)]), "\(`where`)")
    }

    @Test func everyRouteRefusesAnUnknownKeyWithASuggestion() throws {
        let cases = try Self.cases()
        #expect(cases.count >= 17)
        for route in cases {
            let (typed, meant) = misspelling(route.accepted)
            let label = "\(route.method) \(route.path)"
            // Where the route reads its input: the body, or the query string.
            let request = route.isBody
                ? HTTPRequest(method: route.method, path: route.path, body: Data(#"{"\#(typed)": 1}"#.utf8))
                : HTTPRequest(method: route.method, path: route.path, query: [typed: "1"])
            let (status, body) = answer(route.function, .http(request))
            expectRejected(status, body, typed: typed, meant: meant, label)
            // A body route takes no query parameter at all.
            if route.isBody {
                let (status, body) = answer(route.function, .http(HTTPRequest(method: route.method, path: route.path, query: ["top": "3"], body: Data("{}".utf8))))
                #expect(status == 400, "\(label)")
                #expect(body?["error"]?["message"]?.stringValue?.contains("unknown query field 'top'") == true, "\(label): \(String(describing: body))")
            } else if route.method == "POST" {
                // A query route that is POSTed may carry its parameters as a JSON body: checked the same.
                let (status, body) = answer(route.function, .http(HTTPRequest(method: route.method, path: route.path, body: Data(#"{"\#(typed)": 1}"#.utf8))))
                expectRejected(status, body, typed: typed, meant: meant, label + " (body)")
            }
        }
    }

    @Test func everyDirectActionRefusesAnUnknownKey() throws {
        func check<A: StrictAction>(_ function: FunctionHandler, _ actions: A.Type) {
            for action in A.allCases {
                let accepted = action.parameters ?? Self.bodyKeys(action.rawValue)!
                let (typed, meant) = misspelling(accepted)
                let (status, body) = answer(function, .direct(Data(#"{"action": "\#(action.rawValue)", "\#(typed)": 1}"#.utf8)))
                expectRejected(status, body, typed: typed, meant: meant, "direct \(action.rawValue)")
            }
        }
        check(try PredictFunction(), PredictFunction.Action.self)
        check(try IngestFunction(), IngestFunction.Action.self)
        check(try TrainFunction(), TrainFunction.Action.self)
        check(try DriftFunction(), DriftFunction.Action.self)
    }

    @Test func nestedKeysAreCheckedToo() throws {
        let (status, body) = answer(try IngestFunction(), .http(HTTPRequest(method: "POST", path: "/ratings",
            body: Data(#"{"user_id": 1, "ratings": [{"movie_id": 1, "ratng": 4}]}"#.utf8))))
        expectRejected(status, body, typed: "ratings[0].ratng", meant: "ratings[0].rating", "nested rating")
        let (trainStatus, trainBody) = answer(try TrainFunction(), .direct(Data(#"{"action": "train", "svd": {"factor": 5}}"#.utf8)))
        expectRejected(trainStatus, trainBody, typed: "svd.factor", meant: "svd.factors", "nested svd")
    }

    @Test func referenceSpellingsAndTheirConflicts() throws {
        let request = try JSON.decodeRequest(PredictRequest.self, from: Data(#"{"user_id": 1, "n_recommendations": 10}"#.utf8))
        #expect(request.topN == 10)
        let batch = try JSON.decodeRequest(PredictFunction.BatchRequest.self, from: Data(#"{"user_ids": [1], "n_recommendations": 7}"#.utf8))
        #expect(batch.topN == 7)
        do {
            _ = try JSON.decodeRequest(PredictRequest.self, from: Data(#"{"user_id": 1, "top_n": 3, "n_recommendations": 4}"#.utf8))
            Issue.record("two spellings of one field accepted")
        } catch {
            #expect(error.status == 400)
            #expect(error.message.contains("top_n twice"), "\(error.message)")
        }
        #expect(PredictRequest.accepted.listing.contains("top_n (alias n_recommendations)"))
        #expect(PredictRequest.accepted.suggestion(for: "topn") == "top_n")
        #expect(PredictRequest.accepted.suggestion(for: "n_recommendation") == "top_n")
        #expect(PredictRequest.accepted.suggestion(for: "colour") == nil)
    }
}
