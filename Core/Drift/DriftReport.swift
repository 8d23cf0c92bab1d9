/// One drift check: the current window against the baseline, every feature, and the verdict.
public struct DriftResult: Codable, Sendable {
    public var driftDetected: Bool
    public var shareDrifted: Double
    public var driftedFeatures: Int
    public var driftShareThreshold: Double
    public var features: [FeatureDrift]
    public var baselineId: Int
    public var reference: WindowSummary
    public var current: WindowSummary
    public var reportId: Int?
    public var report: String?
    public var seconds: Double

    public struct WindowSummary: Codable, Sendable {
        public var window: WindowSpec
        public var rows: Int
        public var createdAt: String?
        enum CodingKeys: String, CodingKey { case window, rows, createdAt = "created_at" }
    }

    enum CodingKeys: String, CodingKey {
        case features, reference, current, report, seconds
        case driftDetected = "drift_detected", shareDrifted = "share_drifted", driftedFeatures = "drifted_features"
        case driftShareThreshold = "drift_share_threshold", baselineId = "baseline_id", reportId = "report_id"
    }
}

public enum DriftCheck {
    public static func run(current window: WindowSpec, options: DriftOptions, database: Database) throws(FunctionError) -> (DriftResult, Baseline, [FeatureDistribution]) {
        let started = monotonicSeconds()
        guard let baseline = try Baselines.latest(database: database) else {
            throw FunctionError.conflict("no drift baseline yet: create one with POST /monitoring/drift/baseline (default: every rating up to now)")
        }
        var lookups = baseline.lookups
        if lookups == nil { lookups = try FeatureLookups.current(database) }
        let (rows, current) = try FeatureExtractor.distributions(window, lookups: lookups ?? FeatureLookups(popularity: IDCounts(), activity: IDCounts()), database: database)
        guard rows > 0 else {
            throw FunctionError.conflict("the current window holds no ratings; widen it (days=, last_ratings=) or add ratings first")
        }
        let byName = Dictionary(uniqueKeysWithValues: current.map { ($0.name, $0) })
        var features: [FeatureDrift] = []
        for reference in baseline.features {
            guard let now = byName[reference.name], reference.total > 0 else { continue }
            features.append(DriftEvaluation.evaluate(reference: reference, current: now, options: options))
        }
        let drifted = features.filter(\.drifted).count
        let share = features.isEmpty ? 0 : Double(drifted) / Double(features.count)
        let result = DriftResult(driftDetected: share >= options.driftShare, shareDrifted: share, driftedFeatures: drifted,
                                 driftShareThreshold: options.driftShare, features: features, baselineId: baseline.baselineId,
                                 reference: .init(window: baseline.window, rows: baseline.rows, createdAt: baseline.createdAt),
                                 current: .init(window: window, rows: rows, createdAt: nil), reportId: nil, report: nil,
                                 seconds: monotonicSeconds() - started)
        return (result, baseline, current)
    }

    /// A self-contained HTML page: the verdict, the windows, a table of every test and, per
    /// feature, reference and current histograms side by side as inline SVG.
    public static func html(_ result: DriftResult, baseline: Baseline, current: [FeatureDistribution], generatedAt: String) -> String {
        func escape(_ text: String) -> String {
            text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
        }
        func number(_ value: Double?) -> String {
            guard let value else { return "–" }
            if value.isNaN { return "n/a" }
            if value != 0 && abs(value) < 1e-4 { return String(format3e(value)) }
            return String(Double(Int((value * 10_000).rounded())) / 10_000)
        }
        func window(_ spec: WindowSpec) -> String {
            var parts: [String] = []
            if let from = spec.from { parts.append("from \(isoDate(from))") }
            if let to = spec.to { parts.append("to \(isoDate(to))") }
            if let last = spec.lastRatings { parts.append("last \(last) ratings") }
            return parts.isEmpty ? "all ratings" : parts.joined(separator: ", ")
        }
        let verdict = result.driftDetected ? "Drift detected" : "No drift detected"
        var page = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Data drift report</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2430;padding:0 1rem}
            h1{font-size:1.6rem;margin-bottom:.2rem} .verdict{font-size:1.2rem;font-weight:600;padding:.6rem 1rem;border-radius:6px;display:inline-block}
            .drift{background:#fde2e1;color:#8a1c14} .ok{background:#dff3e4;color:#14532d}
            table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{border-bottom:1px solid #e3e6ea;padding:.4rem .5rem;text-align:left}
            th{background:#f5f7f9} td.num{text-align:right;font-variant-numeric:tabular-nums} .yes{color:#b42318;font-weight:600} .no{color:#15803d}
            .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:1rem} .card{border:1px solid #e3e6ea;border-radius:8px;padding:.8rem}
            .legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
            </style></head><body>
            <h1>Data drift report</h1>
            <p>Generated \(escape(generatedAt)) · baseline #\(result.baselineId)</p>
            <p class="verdict \(result.driftDetected ? "drift" : "ok")">\(verdict): \(result.driftedFeatures) of \(result.features.count) features drifted (share \(number(result.shareDrifted)); dataset drift from \(number(result.driftShareThreshold)))</p>
            <table><tr><th>Window</th><th>Range</th><th class="num">Ratings</th></tr>
            <tr><td>Reference (baseline)</td><td>\(escape(window(result.reference.window)))\(result.reference.createdAt.map { ", taken \($0)" } ?? "")</td><td class="num">\(result.reference.rows)</td></tr>
            <tr><td>Current</td><td>\(escape(window(result.current.window)))</td><td class="num">\(result.current.rows)</td></tr></table>
            <h2>Tests</h2>
            <table><tr><th>Feature</th><th>Type</th><th>Test</th><th class="num">Statistic</th><th class="num">p-value</th><th class="num">Threshold</th><th class="num">PSI</th><th>Drift</th></tr>
            """
        for feature in result.features {
            page += "<tr><td>\(escape(feature.name))</td><td>\(feature.type.rawValue)</td><td>\(escape(methodName(feature.method)))</td>"
            page += "<td class=\"num\">\(number(feature.statistic))</td><td class=\"num\">\(number(feature.pValue))</td><td class=\"num\">\(number(feature.threshold))</td>"
            page += "<td class=\"num\">\(number(feature.psi))</td><td class=\"\(feature.drifted ? "yes" : "no")\">\(feature.drifted ? "yes" : "no")</td></tr>\n"
        }
        page += "</table><h2>Distributions</h2><p class=\"legend\"><span style=\"background:#94a3b8\"></span>reference<span style=\"background:#2563eb\"></span>current (share of each window)</p><div class=\"grid\">"
        let currentByName = Dictionary(uniqueKeysWithValues: current.map { ($0.name, $0) })
        for reference in baseline.features {
            guard let now = currentByName[reference.name], let test = result.features.first(where: { $0.name == reference.name }) else { continue }
            page += "<div class=\"card\"><strong>\(escape(reference.name))</strong> · \(escape(methodName(test.method))) \(number(test.statistic))"
            page += test.drifted ? " · <span class=\"yes\">drift</span>" : " · <span class=\"no\">no drift</span>"
            page += histogramSVG(reference, now, escape: escape) + "</div>\n"
        }
        page += "</div></body></html>\n"
        return page
    }

    static func methodName(_ method: String) -> String {
        switch method {
        case "ks": return "K-S p-value"
        case "chisquare": return "chi-squared p-value"
        case "z": return "Z-test p-value"
        case "wasserstein": return "Wasserstein (normed)"
        case "jensenshannon": return "Jensen-Shannon distance"
        case "psi": return "PSI"
        default: return method
        }
    }

    /// Bars of both windows' shares; numerical features with many values are binned first.
    static func histogramSVG(_ reference: FeatureDistribution, _ current: FeatureDistribution, escape: (String) -> String) -> String {
        var labels: [String], ref: [Double], cur: [Double]
        if reference.kind == .categorical {
            // The feature's own order (hours, weekdays Monday first, genres), then labels only the current window has.
            labels = reference.labels + current.labels.filter { !reference.labels.contains($0) }
            let r = reference.byLabel, c = current.byLabel
            ref = labels.map { r[$0] ?? 0 }; cur = labels.map { c[$0] ?? 0 }
        } else if Set(reference.values).union(current.values).count <= 24 {
            let values = Array(Set(reference.values).union(current.values)).sorted()
            labels = values.map { $0.rounded() == $0 ? String(Int($0)) : String($0) }
            let r = Dictionary(uniqueKeysWithValues: zip(reference.values, reference.counts)), c = Dictionary(uniqueKeysWithValues: zip(current.values, current.counts))
            ref = values.map { r[$0] ?? 0 }; cur = values.map { c[$0] ?? 0 }
        } else {
            let low = min(reference.values.first ?? 0, current.values.first ?? 0), high = max(reference.values.last ?? 0, current.values.last ?? 0)
            let bins = 20
            let width = max((high - low) / Double(bins), 1e-9)
            func bin(_ d: FeatureDistribution) -> [Double] {
                var counts = [Double](repeating: 0, count: bins)
                for (v, n) in zip(d.values, d.counts) { counts[min(bins - 1, Int((v - low) / width))] += n }
                return counts
            }
            ref = bin(reference); cur = bin(current)
            labels = (0..<bins).map { String(Int(low + Double($0) * width)) }
        }
        let refTotal = max(ref.reduce(0, +), 1), curTotal = max(cur.reduce(0, +), 1)
        let refShare = ref.map { $0 / refTotal }, curShare = cur.map { $0 / curTotal }
        let peak = max(refShare.max() ?? 0, curShare.max() ?? 0, 1e-9)
        let width = 480.0, height = 180.0, left = 36.0, bottom = 40.0
        let slot = (width - left) / Double(max(labels.count, 1))
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(escape(reference.name)) histogram\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width)\" y2=\"\(height - bottom)\" stroke=\"#9aa4b2\"/>"
        svg += "<text x=\"2\" y=\"12\" font-size=\"10\" fill=\"#5b6573\">\(Int((peak * 100).rounded()))%</text>"
        for index in labels.indices {
            let x = left + Double(index) * slot
            let barWidth = max(slot / 2 - 1, 0.5)
            let hr = refShare[index] / peak * (height - bottom - 14), hc = curShare[index] / peak * (height - bottom - 14)
            svg += "<rect x=\"\(rounded(x))\" y=\"\(rounded(height - bottom - hr))\" width=\"\(rounded(barWidth))\" height=\"\(rounded(hr))\" fill=\"#94a3b8\"><title>\(escape(labels[index])): reference \(rounded(refShare[index] * 100))%</title></rect>"
            svg += "<rect x=\"\(rounded(x + barWidth + 1))\" y=\"\(rounded(height - bottom - hc))\" width=\"\(rounded(barWidth))\" height=\"\(rounded(hc))\" fill=\"#2563eb\"><title>\(escape(labels[index])): current \(rounded(curShare[index] * 100))%</title></rect>"
            if labels.count <= 24 || index % max(1, labels.count / 12) == 0 {
                svg += "<text x=\"\(rounded(x + slot / 2))\" y=\"\(rounded(height - bottom + 12))\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-40 \(rounded(x + slot / 2)) \(rounded(height - bottom + 12)))\" fill=\"#3b4350\">\(escape(String(labels[index].prefix(14))))</text>"
            }
        }
        return svg + "</svg>"
    }

    static func rounded(_ value: Double) -> String { String(Double(Int((value * 10).rounded())) / 10) }
}

func format3e(_ value: Double) -> String {
    var exponent = 0
    var mantissa = abs(value)
    while mantissa < 1 && mantissa > 0 { mantissa *= 10; exponent -= 1 }
    let sign = value < 0 ? "-" : ""
    return "\(sign)\(Double(Int(mantissa * 100)) / 100)e\(exponent)"
}

/// "2026-11-27 01:00 UTC" from epoch seconds, without Foundation's formatters.
func isoDate(_ epoch: Int64) -> String {
    let days = Int(epoch / 86_400), seconds = Int(epoch % 86_400)
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468, era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097, yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9, year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    func two(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
    return "\(year)-\(two(month))-\(two(day)) \(two(seconds / 3600)):\(two(seconds % 3600 / 60)) UTC"
}
