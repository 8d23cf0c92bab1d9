/// A direct event's `action`, and its scalar fields as query-style parameters, so one action
/// reads the same whether it came as `?n=10` over HTTP or as `{"n": 10}` directly.
public struct DirectEvent: Decodable, Sendable {
    public var action: String?
    public var parameters: [String: JSONValue]

    public init(from decoder: Decoder) throws {
        let all = try decoder.singleValueContainer().decode([String: JSONValue].self)
        action = all["action"]?.stringValue
        parameters = all.filter { $0.key != "action" }
    }

    public static func parse(_ data: Data) throws(FunctionError) -> DirectEvent {
        try JSON.decodeRequest(DirectEvent.self, from: data)
    }

    /// The action named, or `fallback`; an unknown name lists the known ones.
    public func action<A: RawRepresentable & CaseIterable>(_ type: A.Type, default fallback: A? = nil) throws(FunctionError) -> A where A.RawValue == String {
        let known = A.allCases.map(\.rawValue).joined(separator: ", ")
        guard let name = action else {
            if let fallback { return fallback }
            throw FunctionError.invalidInput("a direct event needs \"action\": one of \(known)")
        }
        guard let value = A(rawValue: name) else { throw FunctionError.invalidInput("unknown action '\(name)'; use one of \(known)") }
        return value
    }

    /// The event without its `action`: what a body-style action decodes.
    public var body: Data { (try? JSONEncoder().encode(JSONValue.object(parameters))) ?? Data("{}".utf8) }

    /// The fields of a query-style action, checked against what it accepts (aliases resolved),
    /// as text, as a query string would carry them.
    public func query(accepting accepted: AcceptedKeys) throws(FunctionError) -> [String: String] {
        try Self.text(of: accepted.resolve(json: parameters, in: "event"))
    }

    /// Strings, numbers and booleans as text; anything else cannot be a query parameter.
    static func text(of fields: [String: JSONValue]) throws(FunctionError) -> [String: String] {
        var query: [String: String] = [:]
        for (key, value) in fields {
            switch value {
            case .string(let text): query[key] = text
            case .number(let number): query[key] = number.rounded() == number && abs(number) < 9e15 ? String(Int64(number)) : String(number)
            case .bool(let flag): query[key] = String(flag)
            default: throw FunctionError.invalidInput("field '\(key)' must be a string, a number or a boolean")
            }
        }
        return query
    }
}

extension HTTPRequest {
    /// The input of a query-style action: the query string, plus the fields of a JSON object
    /// body (a body field wins), all checked against what the action accepts.
    public func parameters(accepting accepted: AcceptedKeys) throws(FunctionError) -> [String: String] {
        var merged = try accepted.resolve(query, in: "query")
        guard body.contains(where: { !($0 == 32 || $0 == 9 || $0 == 10 || $0 == 13) }) else { return merged }
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            throw FunctionError.invalidInput("request body must be a JSON object (or empty)")
        }
        merged.merge(try DirectEvent.text(of: accepted.resolve(json: fields, in: "body"))) { _, fromBody in fromBody }
        return merged
    }

    /// The body of a body-style action, after checking that no query parameter came with it.
    public func bodyInput() throws(FunctionError) -> Data {
        _ = try AcceptedKeys.none.resolve(query, in: "query")
        return body.isEmpty ? Data("{}".utf8) : body
    }
}

/// A function's database connection: opened, and the schema migrated, on first use; opened
/// again when it dropped. Kept across warm invocations.
public final class DatabaseHandle {
    private var connection: Database?
    private let prepare: (Database) throws(FunctionError) -> Void

    public init(_ connection: Database? = nil, prepare: @escaping (Database) throws(FunctionError) -> Void = { _ in }) {
        self.connection = connection
        self.prepare = prepare
    }

    public func get() throws(FunctionError) -> Database {
        if let connection, connection.isAlive { return connection }
        let database = try Database.fromEnvironment()
        try Migrations.apply(to: database)
        try prepare(database)
        connection = database
        return database
    }

    /// A deployed function fails at start-up without its database (the Runtime API then reports an init error).
    public static func requireConfiguration(_ required: Bool, function: String) throws(FunctionError) {
        if required && environment("DATABASE_URL") == nil {
            throw FunctionError.dependencyDown("DATABASE_URL is not set; the \(function) function needs PostgreSQL")
        }
    }
}
