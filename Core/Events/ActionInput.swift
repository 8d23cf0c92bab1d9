/// An action of a function, with what it reads: either a strict JSON body (a `StrictRequest`
/// type checks its keys) or a set of query-style parameters checked here.
public protocol StrictAction: RawRepresentable, CaseIterable, Sendable where RawValue == String {
    /// The parameters a query-style action accepts (from the query string, a JSON body or the
    /// fields of a direct event); nil for an action whose input is a request body.
    var parameters: AcceptedKeys? { get }
}

/// An action and its input once the event is routed and every key in it checked, the same way
/// for a gateway route and a direct event.
public struct ActionInput<Action: StrictAction>: Sendable {
    public var action: Action
    /// What a body-style action decodes with `JSON.decodeRequest` (`{}` for query-style ones).
    public var body: Data
    /// The checked parameters of a query-style action, read with `integer(_:)` and `number(_:)`.
    public var parameters: HTTPRequest

    /// Routes an HTTP event with `router`, or reads a direct event's `action` (or `fallback`).
    public init(_ event: Event, router: Router<Action>, default fallback: Action? = nil) throws(FunctionError) {
        switch event {
        case .http(let request):
            action = try router.match(request)
            if let accepted = action.parameters {
                body = Data("{}".utf8)
                parameters = HTTPRequest(method: request.method, path: request.path, query: try request.parameters(accepting: accepted))
            } else {
                body = try request.bodyInput()
                parameters = HTTPRequest(method: request.method, path: request.path)
            }
        case .direct(let data):
            let event = try DirectEvent.parse(data)
            action = try event.action(Action.self, default: fallback)
            if let accepted = action.parameters {
                body = Data("{}".utf8)
                parameters = HTTPRequest(method: "POST", path: "/", query: try event.query(accepting: accepted))
            } else {
                body = event.body
                parameters = HTTPRequest(method: "POST", path: "/")
            }
        }
    }
}
