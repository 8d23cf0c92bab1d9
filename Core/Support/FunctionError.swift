/// The one error shape every function answers with:
/// `{"error": {"code": "...", "message": "...", "details": {...}}}` and the HTTP status a gateway would give.
public struct FunctionError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var details: [String: JSONValue]

    public init(status: Int, code: String, message: String, details: [String: JSONValue] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    public static func invalidInput(_ message: String, details: [String: JSONValue] = [:]) -> FunctionError {
        FunctionError(status: 400, code: "invalid_input", message: message, details: details)
    }
    public static func notFound(_ message: String, details: [String: JSONValue] = [:]) -> FunctionError {
        FunctionError(status: 404, code: "not_found", message: message, details: details)
    }
    public static func conflict(_ message: String, details: [String: JSONValue] = [:]) -> FunctionError {
        FunctionError(status: 409, code: "conflict", message: message, details: details)
    }
    public static func tooLarge(_ message: String, details: [String: JSONValue] = [:]) -> FunctionError {
        FunctionError(status: 413, code: "too_large", message: message, details: details)
    }
    public static func unprocessable(_ message: String, details: [String: JSONValue] = [:]) -> FunctionError {
        FunctionError(status: 422, code: "unprocessable", message: message, details: details)
    }
    public static func dependencyDown(_ message: String, details: [String: JSONValue] = [:]) -> FunctionError {
        FunctionError(status: 503, code: "dependency_unavailable", message: message, details: details)
    }
    public static func `internal`(_ message: String, details: [String: JSONValue] = [:]) -> FunctionError {
        FunctionError(status: 500, code: "internal", message: message, details: details)
    }

    /// Anything that is not already a FunctionError is a bug on our side.
    public static func wrap(_ error: any Error) -> FunctionError {
        (error as? FunctionError) ?? .internal(String(describing: error))
    }

    public var body: ErrorBody { ErrorBody(error: .init(code: code, message: message, details: details)) }

    public struct ErrorBody: Codable, Sendable {
        public struct Payload: Codable, Sendable {
            public var code: String
            public var message: String
            public var details: [String: JSONValue]
        }
        public var error: Payload
    }
}
