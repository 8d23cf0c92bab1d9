/// The names one action accepts, in its body or its query string, with the reference system's
/// spellings of the same things. This is the one check behind every route and direct action:
/// a key that is neither a name nor an alias is a 400 that names it, lists what is accepted and
/// suggests the closest name, because a misspelt key that is silently dropped changes the
/// answer without a word (`n_recommendations` used to give the default 5).
public struct AcceptedKeys: Sendable {
    /// Canonical names, in the order the error message lists them.
    public let names: [String]
    /// Another spelling → the canonical name it stands for.
    public let aliases: [String: String]
    /// Rules for fields that hold an object or an array of objects.
    public let nested: [String: AcceptedKeys]

    public init(_ names: [String], aliases: [String: String] = [:], nested: [String: AcceptedKeys] = [:]) {
        self.names = names
        self.aliases = aliases
        self.nested = nested
    }

    /// The names of a `CodingKeys` enum, so a request type states its fields once.
    public init<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type, aliases: [String: String] = [:], nested: [String: AcceptedKeys] = [:]) {
        self.init(keys.allCases.map(\.stringValue), aliases: aliases, nested: nested)
    }

    /// No key at all: the query string of a route whose input is its body.
    public static let none = AcceptedKeys([])

    /// The canonical name for `key`, or nil when it is unknown.
    public func canonical(_ key: String) -> String? {
        names.contains(key) ? key : aliases[key]
    }

    /// Checks every key of `fields` (and of the nested objects) and renames aliases to their
    /// canonical names. `place` says where the keys were, for the message ("body", "query").
    public func resolve<Value>(_ fields: [String: Value], in place: String, prefix: String = "") throws(FunctionError) -> [String: Value] {
        let unknown = fields.keys.filter { canonical($0) == nil }.sorted()
        if !unknown.isEmpty { throw rejection(unknown, in: place, prefix: prefix) }
        var resolved: [String: Value] = [:]
        for (key, value) in fields {
            let name = canonical(key) ?? key
            if resolved[name] != nil {
                let spellings = ([name] + aliases.filter { $0.value == name }.map(\.key).sorted()).filter { fields[$0] != nil }
                throw FunctionError.invalidInput("\(place) gives \(prefix)\(name) twice, as \(spellings.joined(separator: " and ")); send one of them",
                                                 details: ["field": .string(prefix + name)])
            }
            resolved[name] = value
        }
        return resolved
    }

    /// A JSON object checked recursively: nested rules apply to objects and arrays of objects.
    public func resolve(json fields: [String: JSONValue], in place: String, prefix: String = "") throws(FunctionError) -> [String: JSONValue] {
        var resolved = try resolve(fields, in: place, prefix: prefix)
        for (name, rules) in nested {
            switch resolved[name] {
            case .object(let inner)?:
                resolved[name] = .object(try rules.resolve(json: inner, in: place, prefix: "\(prefix)\(name)."))
            case .array(let items)?:
                var checked: [JSONValue] = []
                for (index, item) in items.enumerated() {
                    guard case .object(let inner) = item else { checked.append(item); continue }
                    checked.append(.object(try rules.resolve(json: inner, in: place, prefix: "\(prefix)\(name)[\(index)].")))
                }
                resolved[name] = .array(checked)
            default: break
            }
        }
        return resolved
    }

    /// The listing of accepted names, aliases shown beside what they stand for.
    public var listing: String {
        guard !names.isEmpty else { return "none" }
        return names.map { name in
            let other = aliases.filter { $0.value == name }.map(\.key).sorted()
            return other.isEmpty ? name : "\(name) (alias \(other.joined(separator: ", ")))"
        }.joined(separator: ", ")
    }

    func rejection(_ unknown: [String], in place: String, prefix: String) -> FunctionError {
        var suggestions: [String: JSONValue] = [:]
        let described = unknown.map { key -> String in
            guard let match = suggestion(for: key) else { return "'\(prefix)\(key)'" }
            suggestions[prefix + key] = .string(prefix + match)
            return "'\(prefix)\(key)' (did you mean \(prefix)\(match)?)"
        }
        let noun = unknown.count == 1 ? "unknown \(place) field" : "unknown \(place) fields"
        return FunctionError.invalidInput(
            "\(noun) \(described.joined(separator: ", ")); accepted: \(listing)",
            details: ["unknown": .array(unknown.map { .string(prefix + $0) }),
                      "accepted": .array(names.map { .string(prefix + $0) }),
                      "aliases": .object(aliases.mapValues { .string($0) }),
                      "suggestions": .object(suggestions)])
    }

    /// The closest accepted spelling, when it is close enough to be a slip: an edit distance of
    /// at most a third of the name (at least 2), or one name containing the other.
    public func suggestion(for key: String) -> String? {
        let typed = key.lowercased()
        var best: (name: String, distance: Int)?
        for spelling in names + aliases.keys.sorted() {
            let distance = Self.editDistance(typed, spelling.lowercased())
            if best == nil || distance < best!.distance { best = (canonical(spelling) ?? spelling, distance) }
        }
        if let best, best.distance <= max(2, typed.count / 3) { return best.name }
        let squeezed = typed.filter { $0.isLetter || $0.isNumber }
        return names.first { name in
            let other = name.lowercased().filter { $0.isLetter || $0.isNumber }
            return squeezed.count >= 3 && other.count >= 3 && (other.contains(squeezed) || squeezed.contains(other))
        }
    }

    /// Levenshtein distance over characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// A request body that states the keys it accepts: `JSON.decodeRequest` then refuses any other.
public protocol StrictRequest: Decodable {
    static var accepted: AcceptedKeys { get }
}

extension JSON {
    /// Decodes a strict request body: the keys are checked (recursively) and aliases renamed
    /// before the typed decode, so a type never sees a key it does not know.
    public static func decodeRequest<T: StrictRequest>(_ type: T.Type, from data: Data) throws(FunctionError) -> T {
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw FunctionError.invalidInput("request body is not valid JSON")
        }
        guard case .object(let fields) = value else { throw FunctionError.invalidInput("request body must be a JSON object") }
        let resolved = try T.accepted.resolve(json: fields, in: "body")
        let canonical: Data
        do { canonical = try JSONEncoder().encode(JSONValue.object(resolved)) } catch {
            throw FunctionError.internal("could not re-encode the request: \(error)")
        }
        return try decodeTyped(T.self, from: canonical)
    }
}
