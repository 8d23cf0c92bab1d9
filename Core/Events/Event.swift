/// What a function is invoked with: its own JSON (a direct event) or an
/// API Gateway HTTP API payload 2.0 event, already unpacked into an `HTTPRequest`.
public enum Event: Sendable {
    case direct(Data)
    case http(HTTPRequest)

    /// The largest event a synchronous Lambda invocation accepts.
    public static let maximumSize = 6 * 1024 * 1024

    /// Recognises the API Gateway v2 envelope by its `version` and `requestContext.http`;
    /// anything else that is a JSON object is a direct event.
    public static func parse(_ data: Data) throws(FunctionError) -> Event {
        if data.count > maximumSize {
            throw FunctionError.tooLarge("event is \(data.count) bytes; the limit is \(maximumSize) bytes")
        }
        // The gateway's events first, as a typed document: decoding only the fields we read is
        // several times cheaper than a generic JSON tree, and it is every HTTP request's cost.
        if let event = try? JSONDecoder().decode(APIGatewayV2Event.self, from: data) {
            if event.version == "2.0", let http = event.requestContext?.http { return .http(try HTTPRequest(event, http: http)) }
            // It decoded, so it is a JSON object: a direct event, with no second parse.
            if event.version != "2.0" { return .direct(data) }
        }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw FunctionError.invalidInput("event is not valid JSON")
        }
        guard case .object(let object) = value else {
            throw FunctionError.invalidInput("event must be a JSON object")
        }
        if object["version"]?.stringValue == "2.0", let context = object["requestContext"], context["http"] != nil {
            return .http(try HTTPRequest(apiGatewayEvent: object))
        }
        return .direct(data)
    }
}

/// The fields of an API Gateway HTTP API (payload 2.0) event that functions read.
struct APIGatewayV2Event: Decodable {
    struct Context: Decodable {
        struct HTTP: Decodable {
            var method: String
            var path: String?
        }
        var http: HTTP?
        var requestId: String?
    }

    var version: String?
    var routeKey: String?
    var rawPath: String?
    var rawQueryString: String?
    var headers: [String: String]?
    var queryStringParameters: [String: String]?
    var pathParameters: [String: String]?
    var body: String?
    var isBase64Encoded: Bool?
    var requestContext: Context?
}

/// An HTTP request as API Gateway hands it to a function.
public struct HTTPRequest: Sendable {
    public var method: String
    public var path: String
    public var routeKey: String?
    public var query: [String: String]
    public var headers: [String: String]
    public var pathParameters: [String: String]
    public var body: Data
    public var requestId: String?

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:],
                body: Data = Data(), routeKey: String? = nil, pathParameters: [String: String] = [:], requestId: String? = nil) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.routeKey = routeKey
        self.pathParameters = pathParameters
        self.requestId = requestId
    }

    init(_ event: APIGatewayV2Event, http: APIGatewayV2Event.Context.HTTP) throws(FunctionError) {
        var query = event.queryStringParameters ?? [:]
        if query.isEmpty, let raw = event.rawQueryString, !raw.isEmpty {
            for pair in raw.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[percentDecode(parts[0])] = parts.count > 1 ? percentDecode(parts[1]) : ""
            }
        }
        var headers: [String: String] = [:]
        for (name, value) in event.headers ?? [:] { headers[name.lowercased()] = value }
        var body = Data()
        if let text = event.body {
            if event.isBase64Encoded == true {
                guard let decoded = Data(base64Encoded: text) else {
                    throw FunctionError.invalidInput("event body is marked base64 but is not valid base64")
                }
                body = decoded
            } else {
                body = Data(text.utf8)
            }
        }
        self.init(method: http.method, path: event.rawPath ?? http.path ?? "/", query: query, headers: headers, body: body,
                  routeKey: event.routeKey, pathParameters: event.pathParameters ?? [:], requestId: event.requestContext?.requestId)
    }

    init(apiGatewayEvent object: [String: JSONValue]) throws(FunctionError) {
        func strings(_ key: String) -> [String: String] {
            var result: [String: String] = [:]
            for (name, value) in object[key]?.objectValue ?? [:] { if let s = value.stringValue { result[name] = s } }
            return result
        }
        let http = object["requestContext"]?["http"]
        guard let method = http?["method"]?.stringValue else {
            throw FunctionError.invalidInput("API Gateway event has no requestContext.http.method")
        }
        let path = object["rawPath"]?.stringValue ?? http?["path"]?.stringValue ?? "/"
        var query = strings("queryStringParameters")
        if query.isEmpty, let raw = object["rawQueryString"]?.stringValue, !raw.isEmpty {
            for pair in raw.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[percentDecode(parts[0])] = parts.count > 1 ? percentDecode(parts[1]) : ""
            }
        }
        var headers: [String: String] = [:]
        for (name, value) in strings("headers") { headers[name.lowercased()] = value }
        var body = Data()
        if let text = object["body"]?.stringValue {
            if object["isBase64Encoded"]?.boolValue == true {
                guard let decoded = Data(base64Encoded: text) else {
                    throw FunctionError.invalidInput("event body is marked base64 but is not valid base64")
                }
                body = decoded
            } else {
                body = Data(text.utf8)
            }
        }
        self.init(method: method, path: path, query: query, headers: headers, body: body,
                  routeKey: object["routeKey"]?.stringValue, pathParameters: strings("pathParameters"),
                  requestId: object["requestContext"]?["requestId"]?.stringValue)
    }

    /// A query parameter parsed as an integer within bounds, with a message naming it otherwise.
    public func integer(_ name: String, default fallback: Int? = nil, in range: ClosedRange<Int>) throws(FunctionError) -> Int? {
        guard let text = query[name] else { return fallback }
        guard let value = Int(text) else {
            throw FunctionError.invalidInput("query parameter '\(name)' must be an integer, got '\(text)'")
        }
        guard range.contains(value) else {
            throw FunctionError.invalidInput("query parameter '\(name)' must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A bounded integer query parameter that has a default.
    public func integer(_ name: String, orDefault fallback: Int, in range: ClosedRange<Int>) throws(FunctionError) -> Int {
        try integer(name, default: fallback, in: range) ?? fallback
    }

    public func number(_ name: String) throws(FunctionError) -> Double? {
        guard let text = query[name] else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw FunctionError.invalidInput("query parameter '\(name)' must be a number, got '\(text)'")
        }
        return value
    }
}
