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

    /// Strings, numbers and booleans as text, as a query string would carry them.
    public var query: [String: String] {
        var query: [String: String] = [:]
        for (key, value) in parameters {
            switch value {
            case .string(let text): query[key] = text
            case .number(let number): query[key] = number.rounded() == number && abs(number) < 9e15 ? String(Int64(number)) : String(number)
            case .bool(let flag): query[key] = String(flag)
            default: break
            }
        }
        return query
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
