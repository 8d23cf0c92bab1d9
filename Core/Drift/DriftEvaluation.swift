/// Per-feature drift tests chosen as Evidently chooses them by default, and the dataset verdict.
public struct DriftOptions: Sendable {
    /// Force one method for every feature: ks, chisquare, z, wasserstein, jensenshannon, psi.
    public var method: String?
    /// Overrides the method's default threshold (p-value or distance).
    public var threshold: Double?
    /// Share of drifted features from which the dataset counts as drifted.
    public var driftShare: Double = 0.5

    public init(method: String? = nil, threshold: Double? = nil, driftShare: Double = 0.5) {
        self.method = method; self.threshold = threshold; self.driftShare = driftShare
    }

    public static let methods = ["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]
}

public struct FeatureDrift: Codable, Sendable {
    public var name: String
    public var type: FeatureKind
    public var method: String
    public var statistic: Double
    public var pValue: Double?
    public var threshold: Double
    public var drifted: Bool
    public var psi: Double
    public var referenceSize: Double
    public var currentSize: Double
    public var uniqueValues: Int

    enum CodingKeys: String, CodingKey {
        case name, type, method, statistic, threshold, drifted, psi
        case pValue = "p_value", referenceSize = "reference_size", currentSize = "current_size", uniqueValues = "unique_values"
    }
}

public enum DriftEvaluation {
    public static func evaluate(reference: FeatureDistribution, current: FeatureDistribution, options: DriftOptions) -> FeatureDrift {
        let nRef = reference.total, nCur = current.total
        // Categories or values of both windows, aligned.
        let keys: [String]
        var refCounts: [Double], curCounts: [Double]
        if reference.kind == .categorical {
            keys = Array(Set(reference.labels).union(current.labels)).sorted()
            let r = reference.byLabel, c = current.byLabel
            refCounts = keys.map { r[$0] ?? 0 }
            curCounts = keys.map { c[$0] ?? 0 }
        } else {
            let values = Array(Set(reference.values).union(current.values)).sorted()
            keys = values.map { String($0) }
            let r = Dictionary(uniqueKeysWithValues: zip(reference.values, reference.counts)), c = Dictionary(uniqueKeysWithValues: zip(current.values, current.counts))
            refCounts = values.map { r[$0] ?? 0 }
            curCounts = values.map { c[$0] ?? 0 }
        }
        let unique = keys.count
        let numerical = reference.kind == .numerical && unique > 5
        let method: String
        if let forced = options.method { method = forced }
        else if nRef <= 1000 { method = numerical ? "ks" : (unique > 2 ? "chisquare" : "z") }
        else { method = numerical ? "wasserstein" : "jensenshannon" }

        // Binned shares for PSI (and Jensen-Shannon on numerical data): Sturges' equal-width bins
        // over both windows when the reference has more than 20 distinct values, else per value.
        let (binnedRef, binnedCur) = reference.kind == .numerical && reference.values.count > 20
            ? sturgesHistogram(reference.sample, current.sample) : (refCounts, curCounts)
        let psi = DriftStatistics.psi(reference: binnedRef, current: binnedCur)

        var statistic = 0.0, pValue: Double? = nil, threshold: Double, drifted: Bool
        switch method {
        case "ks":
            let result = DriftStatistics.ks2samp(reference.kind == .numerical ? reference.sample : indexSample(refCounts),
                                                 reference.kind == .numerical ? current.sample : indexSample(curCounts))
            statistic = result.statistic; pValue = result.pValue
            threshold = options.threshold ?? 0.05
            drifted = result.pValue <= threshold
        case "chisquare":
            let expected = refCounts.map { $0 * nCur / max(nRef, 1) }
            let result = DriftStatistics.chiSquare(observed: curCounts, expected: expected)
            statistic = result.statistic; pValue = result.pValue
            threshold = options.threshold ?? 0.05
            drifted = result.pValue < threshold
        case "z":
            // The share of the first category in each window.
            let result = DriftStatistics.twoProportionZ(referenceHits: refCounts.first ?? 0, referenceTotal: nRef,
                                                        currentHits: curCounts.first ?? 0, currentTotal: nCur)
            statistic = result.statistic; pValue = result.pValue
            threshold = options.threshold ?? 0.05
            drifted = result.pValue < threshold
        case "wasserstein":
            let deviation = max(reference.sample.standardDeviation, 0.001)
            statistic = DriftStatistics.wasserstein(reference.kind == .numerical ? reference.sample : indexSample(refCounts),
                                                    reference.kind == .numerical ? current.sample : indexSample(curCounts)) / deviation
            threshold = options.threshold ?? 0.1
            drifted = statistic >= threshold
        case "psi":
            statistic = psi
            threshold = options.threshold ?? 0.1
            drifted = statistic >= threshold
        default:  // jensenshannon
            statistic = DriftStatistics.jensenShannon(binnedRef, binnedCur)
            threshold = options.threshold ?? 0.1
            drifted = statistic >= threshold
        }
        if statistic.isNaN { drifted = false }
        return FeatureDrift(name: reference.name, type: reference.kind, method: method, statistic: statistic, pValue: pValue,
                            threshold: threshold, drifted: drifted, psi: psi, referenceSize: nRef, currentSize: nCur, uniqueValues: unique)
    }

    /// Categories as the positions 0, 1, 2... so that distance tests can run on them when forced.
    static func indexSample(_ counts: [Double]) -> WeightedSample {
        WeightedSample(values: counts.indices.map(Double.init), counts: counts)
    }

    /// numpy's histogram with bins="sturges" over both samples, counts per window.
    static func sturgesHistogram(_ reference: WeightedSample, _ current: WeightedSample) -> ([Double], [Double]) {
        let n = reference.total + current.total
        let low = min(reference.values.first ?? 0, current.values.first ?? 0)
        let high = max(reference.values.last ?? 0, current.values.last ?? 0)
        let bins = max(1, Int((log2(n) + 1).rounded(.up)))
        guard high > low else { return ([reference.total], [current.total]) }
        let edges = (0...bins).map { $0 == bins ? high : low + Double($0) * (high - low) / Double(bins) }
        func histogram(_ sample: WeightedSample) -> [Double] {
            var counts = [Double](repeating: 0, count: bins)
            var bin = 0
            for (value, count) in zip(sample.values, sample.counts) {
                while bin < bins - 1 && value >= edges[bin + 1] { bin += 1 }
                counts[bin] += count
            }
            return counts
        }
        return (histogram(reference), histogram(current))
    }
}
