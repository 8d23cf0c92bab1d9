import Foundation

/// The runner's Prometheus metrics: counters, gauges and histograms with labels, rendered in
/// the text exposition format. Every family is declared up front (help, type, label names), so
/// `/metrics` always lists the same families and a typo in a metric name fails loudly in tests
/// instead of making a new series.
final class Metrics: @unchecked Sendable {
    enum Kind: String { case counter, gauge, histogram }

    struct Family {
        var name: String
        var kind: Kind
        var help: String
        var labels: [String]
        var buckets: [Double] = []
    }

    private struct Histogram {
        var counts: [Double]
        var sum = 0.0
        var count = 0.0
    }

    static let latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900]

    static let families: [Family] = [
        Family(name: "api_requests_total", kind: .counter, help: "HTTP requests served by the gateway, by route template and status.", labels: ["method", "endpoint", "status"]),
        Family(name: "api_request_duration_seconds", kind: .histogram, help: "Gateway request latency, from the request read to the response written.", labels: ["method", "endpoint"], buckets: latencyBuckets),
        Family(name: "recommendations_total", kind: .counter, help: "Recommendation requests answered with a list (POST /predict/ and predict invocations).", labels: []),
        Family(name: "training_runs_total", kind: .counter, help: "Training runs started, by what started them (api, invoke, schedule, startup).", labels: ["trigger"]),
        Family(name: "data_drift_detected", kind: .gauge, help: "1 when the latest drift check found dataset drift, 0 when it did not.", labels: []),
        Family(name: "drift_feature_score", kind: .gauge, help: "The latest drift check's test statistic per feature.", labels: ["feature"]),
        Family(name: "drift_feature_detected", kind: .gauge, help: "1 when the latest drift check found the feature drifted.", labels: ["feature"]),
        Family(name: "champion_model_version", kind: .gauge, help: "Version number of the champion model in the registry (0: none yet).", labels: []),
        Family(name: "champion_model_rmse", kind: .gauge, help: "Cross-validated RMSE of the champion model.", labels: []),
        Family(name: "function_invocations_total", kind: .counter, help: "Function invocations, whatever their outcome.", labels: ["function"]),
        Family(name: "function_errors_total", kind: .counter, help: "Invocations that ended in a function error, a crash or a timeout.", labels: ["function"]),
        Family(name: "function_cold_starts_total", kind: .counter, help: "Worker processes started (each is a cold start).", labels: ["function"]),
        Family(name: "function_throttles_total", kind: .counter, help: "Invocations refused with 429 because the function was at its concurrency.", labels: ["function"]),
        Family(name: "function_duration_seconds", kind: .histogram, help: "Invocation time, from queueing to the function's answer.", labels: ["function"], buckets: latencyBuckets),
        Family(name: "function_warm_workers", kind: .gauge, help: "Worker processes alive.", labels: ["function"]),
        Family(name: "function_busy_workers", kind: .gauge, help: "Worker processes serving an invocation now.", labels: ["function"]),
        Family(name: "schedule_runs_total", kind: .counter, help: "Scheduled job runs by outcome.", labels: ["schedule", "status"]),
    ]

    private let lock = NSLock()
    private var values: [String: [[String]: Double]] = [:]
    private var histograms: [String: [[String]: Histogram]] = [:]
    private let byName: [String: Family]
    /// Sampled at scrape time (worker gauges).
    var collectors: [() -> Void] = []

    init() {
        byName = Dictionary(uniqueKeysWithValues: Self.families.map { ($0.name, $0) })
    }

    private func family(_ name: String, _ labels: [String]) -> Family {
        guard let family = byName[name], family.labels.count == labels.count else {
            preconditionFailure("metric \(name) with \(labels.count) labels is not declared in Metrics.families")
        }
        return family
    }

    func increment(_ name: String, _ labels: [String] = [], by amount: Double = 1) {
        _ = family(name, labels)
        lock.lock(); defer { lock.unlock() }
        values[name, default: [:]][labels, default: 0] += amount
    }

    func set(_ name: String, _ labels: [String] = [], _ value: Double) {
        _ = family(name, labels)
        lock.lock(); defer { lock.unlock() }
        values[name, default: [:]][labels] = value
    }

    func observe(_ name: String, _ labels: [String] = [], _ value: Double) {
        let family = family(name, labels)
        lock.lock(); defer { lock.unlock() }
        var histogram = histograms[name]?[labels] ?? Histogram(counts: Array(repeating: 0, count: family.buckets.count))
        for (index, bound) in family.buckets.enumerated() where value <= bound { histogram.counts[index] += 1 }
        histogram.sum += value
        histogram.count += 1
        histograms[name, default: [:]][labels] = histogram
    }

    func value(_ name: String, _ labels: [String] = []) -> Double? {
        lock.lock(); defer { lock.unlock() }
        return values[name]?[labels]
    }

    /// The text exposition format (version 0.0.4).
    func render() -> String {
        for collect in collectors { collect() }
        lock.lock(); defer { lock.unlock() }
        var out = ""
        for family in Self.families {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            if family.kind == .histogram {
                for (labels, histogram) in (histograms[family.name] ?? [:]).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                    let base = zip(family.labels, labels).map { "\($0)=\"\(Self.escape($1))\"" }
                    for (index, bound) in family.buckets.enumerated() {
                        out += "\(family.name)_bucket{\((base + ["le=\"\(Self.number(bound))\""]).joined(separator: ","))} \(Self.number(histogram.counts[index]))\n"
                    }
                    out += "\(family.name)_bucket{\((base + ["le=\"+Inf\""]).joined(separator: ","))} \(Self.number(histogram.count))\n"
                    let suffix = base.isEmpty ? "" : "{\(base.joined(separator: ","))}"
                    out += "\(family.name)_sum\(suffix) \(Self.number(histogram.sum))\n\(family.name)_count\(suffix) \(Self.number(histogram.count))\n"
                }
            } else {
                let series = values[family.name] ?? [:]
                // A family without labels always has its one series (a counter starts at 0).
                if family.labels.isEmpty && series.isEmpty { out += "\(family.name) 0\n" }
                for (labels, value) in series.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                    let rendered = zip(family.labels, labels).map { "\($0)=\"\(Self.escape($1))\"" }.joined(separator: ",")
                    out += "\(family.name)\(rendered.isEmpty ? "" : "{\(rendered)}") \(Self.number(value))\n"
                }
            }
        }
        return out
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
