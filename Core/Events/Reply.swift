/// A function's answer before it is framed for the caller (stdout, the Runtime API or API Gateway).
public struct Reply: Sendable {
    public var status: Int
    public var contentType: String
    public var headers: [String: String]
    public var body: Data
    /// What the handler measured, written as Embedded Metric Format under the Runtime API.
    public var metrics: [EmbeddedMetric] = []

    public init(status: Int = 200, contentType: String = "application/json", headers: [String: String] = [:], body: Data) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }

    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> Reply {
        do { return Reply(status: status, body: try JSON.encode(value)) } catch {
            return .error(.internal("could not encode the answer: \(error)"))
        }
    }

    public static func html(_ text: String, status: Int = 200) -> Reply {
        Reply(status: status, contentType: "text/html; charset=utf-8", body: Data(text.utf8))
    }

    public static func text(_ text: String, contentType: String, status: Int = 200) -> Reply {
        Reply(status: status, contentType: contentType, body: Data(text.utf8))
    }

    public static func error(_ error: FunctionError) -> Reply {
        Reply(status: error.status, body: (try? JSON.encode(error.body)) ?? Data("{\"error\":{}}".utf8))
    }

    /// The API Gateway payload 2.0 response document.
    public func apiGatewayResponse() -> Data {
        var allHeaders = headers
        allHeaders["content-type"] = contentType
        let isText = contentType.hasPrefix("application/json") || contentType.hasPrefix("text/")
        let document: [String: JSONValue] = [
            "statusCode": .number(Double(status)),
            "headers": .object(allHeaders.mapValues { .string($0) }),
            "body": .string(isText ? String(decoding: body, as: UTF8.self) : body.base64EncodedString()),
            "isBase64Encoded": .bool(!isText),
        ]
        return (try? JSON.encode(JSONValue.object(document))) ?? Data()
    }
}
