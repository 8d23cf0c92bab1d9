/// A route table that reads like the template's: method, path, action.
/// Paths match with or without a trailing slash, as the reference system's clients send both.
public struct Router<Action: Sendable>: Sendable {
    public struct Route: Sendable {
        public var method: String
        public var path: String
        public var action: Action
    }

    public private(set) var routes: [Route] = []

    public init() {}

    public mutating func on(_ method: String, _ path: String, _ action: Action) {
        routes.append(Route(method: method, path: Self.normalise(path), action: action))
    }

    public func match(_ request: HTTPRequest) throws(FunctionError) -> Action {
        let path = Self.normalise(request.path)
        let candidates = routes.filter { $0.path == path }
        if let route = candidates.first(where: { $0.method == request.method }) { return route.action }
        if !candidates.isEmpty {
            throw FunctionError(status: 405, code: "method_not_allowed",
                                message: "\(request.method) is not allowed on \(request.path); use \(candidates.map(\.method).joined(separator: " or "))")
        }
        throw FunctionError.notFound("no route for \(request.method) \(request.path)")
    }

    static func normalise(_ path: String) -> String {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }
}
