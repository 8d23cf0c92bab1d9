/// CloudWatch Embedded Metric Format: the one log line a function writes per invocation under
/// the Runtime API is also a metrics document, so a deployed stack has the figures the local
/// runner's `/metrics` shows (requests, recommendations, training runs, drift) without an agent
/// or an API call. CloudWatch Logs extracts the metrics named in `_aws`; every other field stays
/// a searchable log field.
public struct EmbeddedMetric: Sendable, Equatable {
    public enum Unit: String, Sendable { case count = "Count", milliseconds = "Milliseconds", seconds = "Seconds", none = "None" }

    public var name: String
    public var value: Double
    public var unit: Unit
    /// Dimensions of this metric beyond the function's own (`Feature` for a drift score).
    public var dimensions: [String: String]

    public init(_ name: String, _ value: Double, unit: Unit = .count, dimensions: [String: String] = [:]) {
        self.name = name
        self.value = value
        self.unit = unit
        self.dimensions = dimensions
    }
}

public enum EmbeddedMetrics {
    public static let namespace = "MovieRec"

    /// The documents for one invocation: the invocation's own metrics (Requests, Errors,
    /// Duration) by function and by route, and the handler's, one document per distinct set
    /// of extra dimensions (a dimension has one value per document). `fields` go into the
    /// first document as plain log fields.
    public static func documents(function: String, route: String, status: Int, milliseconds: Double, metrics: [EmbeddedMetric],
                                 fields: [String: JSONValue], timestamp: Date = Date()) -> [JSONValue] {
        let own = [EmbeddedMetric("Requests", 1), EmbeddedMetric("Errors", status >= 500 ? 1 : 0),
                   EmbeddedMetric("ClientErrors", (400..<500).contains(status) ? 1 : 0),
                   EmbeddedMetric("Duration", milliseconds, unit: .milliseconds)]
        var groups: [(dimensions: [String: String], metrics: [EmbeddedMetric])] = [([:], own)]
        for metric in metrics {
            if let index = groups.firstIndex(where: { $0.dimensions == metric.dimensions }) { groups[index].metrics.append(metric) }
            else { groups.append((metric.dimensions, [metric])) }
        }
        let milliseconds = Double(Int64(timestamp.timeIntervalSince1970 * 1000))
        return groups.enumerated().map { index, group in
            var document: [String: JSONValue] = index == 0 ? fields : [:]
            document["Function"] = .string(function)
            document["Route"] = .string(route)
            document["StatusCode"] = .number(Double(status))
            for (name, value) in group.dimensions { document[name] = .string(value) }
            for metric in group.metrics { document[metric.name] = .number(metric.value) }
            let extra = group.dimensions.keys.sorted()
            let dimensionSets: [JSONValue] = [["Function"] + extra, ["Function", "Route"] + extra].map { .array($0.map { .string($0) }) }
            document["_aws"] = .object([
                "Timestamp": .number(milliseconds),
                "CloudWatchMetrics": .array([.object([
                    "Namespace": .string(namespace),
                    "Dimensions": .array(dimensionSets),
                    "Metrics": .array(group.metrics.map { .object(["Name": .string($0.name), "Unit": .string($0.unit.rawValue)]) }),
                ])]),
            ])
            return .object(document)
        }
    }

    /// What an invocation is counted under: the HTTP route, or the direct event's action.
    public static func route(of event: Event) -> String {
        switch event {
        case .http(let request): return request.routeKey ?? "\(request.method) \(request.path)"
        case .direct(let data):
            // Bounded whatever the event says: a dimension value per distinct string would cost
            // a metric each.
            let action = (try? DirectEvent.parse(data))?.action ?? "default"
            let plain = action.count <= 32 && action.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || $0 == 95 }
            return "action:\(plain ? action : "other")"
        }
    }
}
