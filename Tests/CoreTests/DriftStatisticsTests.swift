import Foundation
import Testing
@testable import Core

/// Our statistics against scipy's, on the same samples: 1e-9 relative.
@Suite struct DriftStatisticsTests {
    struct Case: Codable {
        var kind: String
        var a: [Double]
        var b: [Double]
    }

    /// scipy's answers for every case, from one python process.
    static func scipy(_ cases: [Case]) throws -> [[Double]] {
        let input = TestServices.temporaryDirectory() + "/cases.json"
        try JSONEncoder().encode(cases).write(to: URL(fileURLWithPath: input))
        let script = """
            import json, sys, numpy as np
            from scipy import stats
            from scipy.spatial import distance
            out = []
            for c in json.load(open(sys.argv[1])):
                a, b = np.array(c["a"]), np.array(c["b"])
                if c["kind"] == "ks": r = stats.ks_2samp(a, b); out.append([float(r.statistic), float(r.pvalue)])
                elif c["kind"] == "wasserstein": out.append([float(stats.wasserstein_distance(a, b))])
                elif c["kind"] == "chisquare": r = stats.chisquare(a, b); out.append([float(r.statistic), float(r.pvalue)])
                elif c["kind"] == "jensenshannon": out.append([float(distance.jensenshannon(a, b))])
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, input]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestSetupError("scipy failed; install it with `pip install scipy`") }
        return try JSONDecoder().decode([[Double]].self, from: data)
    }

    static func close(_ ours: Double, _ theirs: Double, relative: Double = 1e-9) -> Bool {
        if ours.isNaN || theirs.isNaN { return ours.isNaN && theirs.isNaN }
        if ours == theirs { return true }
        return abs(ours - theirs) <= relative * max(abs(theirs), 1e-300) || abs(ours - theirs) < 1e-15
    }

    func sample(_ n: Int, seed: UInt64, scale: Double = 1, shift: Double = 0, discrete: Bool = false) -> [Double] {
        var random = SeededGenerator(seed: seed)
        return (0..<n).map { _ in
            let value = random.normal() * scale + shift
            return discrete ? (value * 2).rounded() / 2 : value
        }
    }

    @Test func kolmogorovSmirnovMatchesScipy() throws {
        var cases: [Case] = []
        // Exact branch: equal sizes, unequal sizes, ties, identical samples, strong shifts, tiny samples.
        for (n1, n2, shift, discrete) in [(50, 50, 0.3, false), (200, 350, 0.1, false), (1000, 700, 0.05, true), (30, 45, 0.0, true),
                                          (7, 5, 1.0, false), (1000, 10_000, 0.05, false), (300, 300, 2.0, false), (1, 3, 0.0, false)] {
            cases.append(Case(kind: "ks", a: sample(n1, seed: UInt64(n1), discrete: discrete), b: sample(n2, seed: UInt64(n2 + 1), shift: shift, discrete: discrete)))
        }
        cases.append(Case(kind: "ks", a: sample(40, seed: 3), b: sample(40, seed: 3)))
        // Asymptotic branch (max(n1, n2) > 10000): kstwo's survival function, several regimes.
        for (n1, n2, shift) in [(1000, 20_000, 0.02), (1000, 15_000, 0.1), (100, 12_000, 0.3), (800, 30_000, 0.0), (60, 11_000, 0.8), (500, 40_000, 0.05)] {
            cases.append(Case(kind: "ks", a: sample(n1, seed: UInt64(n1 * 3)), b: sample(n2, seed: UInt64(n2), shift: shift, discrete: true)))
        }
        let expected = try Self.scipy(cases)
        for (index, test) in cases.enumerated() {
            let ours = DriftStatistics.ks2samp(WeightedSample(test.a), WeightedSample(test.b))
            #expect(Self.close(ours.statistic, expected[index][0]), "case \(index) statistic \(ours.statistic) vs \(expected[index][0])")
            #expect(Self.close(ours.pValue, expected[index][1]), "case \(index) (n \(test.a.count), \(test.b.count)) p \(ours.pValue) vs \(expected[index][1])")
        }
    }

    @Test func kolmogorovSurvivalAcrossItsMethods() throws {
        // Same n through every branch of Simard and L'Ecuyer's selection, against scipy.stats.kstwo.sf.
        var pairs: [(Int, Double)] = []
        for n in [5, 40, 140, 141, 500, 1000] { for x in [0.02, 0.05, 0.08, 0.12, 0.2, 0.35, 0.6, 0.9] { pairs.append((n, x)) } }
        let input = TestServices.temporaryDirectory() + "/kstwo.json"
        try JSONSerialization.data(withJSONObject: pairs.map { [$0.0, $0.1] }).write(to: URL(fileURLWithPath: input))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import json,sys; from scipy import stats; print(json.dumps([float(stats.kstwo.sf(x, int(n))) for n, x in json.load(open(sys.argv[1]))]))", input]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let expected = try JSONDecoder().decode([Double].self, from: output.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        for (index, (n, x)) in pairs.enumerated() {
            let ours = DriftStatistics.kolmogorovSF(n, x)
            #expect(Self.close(ours, expected[index]) || (ours < 1e-300 && expected[index] < 1e-300), "n \(n) x \(x): \(ours) vs \(expected[index])")
        }
    }

    @Test func wassersteinChiSquareAndJensenShannonMatchScipy() throws {
        var cases: [Case] = [
            Case(kind: "wasserstein", a: sample(500, seed: 1), b: sample(800, seed: 2, shift: 0.4)),
            Case(kind: "wasserstein", a: sample(3000, seed: 3, discrete: true), b: sample(2000, seed: 4, scale: 1.3, discrete: true)),
            Case(kind: "wasserstein", a: [3, 3, 3], b: [3, 3]),
            Case(kind: "chisquare", a: [120, 80, 55, 45], b: [100, 100, 50, 50]),
            Case(kind: "chisquare", a: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240],
                 b: Array(repeating: 125, count: 24)),
            Case(kind: "chisquare", a: [5000, 5100, 4900], b: [5000, 5000, 5000]),
            Case(kind: "chisquare", a: [9, 1], b: [5, 5]),
            Case(kind: "jensenshannon", a: [10, 20, 30, 40], b: [40, 30, 20, 10]),
            Case(kind: "jensenshannon", a: [1, 0, 0], b: [0, 0, 1]),
            Case(kind: "jensenshannon", a: [5, 5, 5], b: [5, 5, 5]),
            Case(kind: "jensenshannon", a: [0.1, 0.2, 0.7, 0.0], b: [0.25, 0.25, 0.25, 0.25]),
        ]
        cases.append(Case(kind: "chisquare", a: [30, 14, 34, 45, 57, 20], b: [20, 20, 30, 40, 60, 30]))
        let expected = try Self.scipy(cases)
        for (index, test) in cases.enumerated() {
            switch test.kind {
            case "wasserstein":
                let ours = DriftStatistics.wasserstein(WeightedSample(test.a), WeightedSample(test.b))
                #expect(Self.close(ours, expected[index][0]), "case \(index): \(ours) vs \(expected[index][0])")
            case "chisquare":
                let ours = DriftStatistics.chiSquare(observed: test.a, expected: test.b)
                #expect(Self.close(ours.statistic, expected[index][0]), "case \(index) statistic")
                #expect(Self.close(ours.pValue, expected[index][1]), "case \(index) p \(ours.pValue) vs \(expected[index][1])")
            default:
                let ours = DriftStatistics.jensenShannon(test.a, test.b)
                #expect(Self.close(ours, expected[index][0]), "case \(index): \(ours) vs \(expected[index][0])")
            }
        }
    }

    @Test func edgeCases() {
        #expect(DriftStatistics.ks2samp(WeightedSample([]), WeightedSample([1, 2])).pValue.isNaN)
        let constant = DriftStatistics.ks2samp(WeightedSample([2, 2, 2]), WeightedSample([2, 2]))
        #expect(constant.statistic == 0 && constant.pValue == 1)
        #expect(DriftStatistics.wasserstein(WeightedSample([1]), WeightedSample([1])) == 0)
        #expect(DriftStatistics.chiSquare(observed: [10], expected: [10]).pValue.isNaN)  // one category: no test
        #expect(DriftStatistics.chiSquare(observed: [5, 5], expected: [10, 0]).pValue == 0)  // a category the reference never saw
        #expect(DriftStatistics.psi(reference: [50, 50], current: [50, 50]) == 0)
        #expect(DriftStatistics.psi(reference: [100, 0], current: [50, 50]) > 0.1)
        let z = DriftStatistics.twoProportionZ(referenceHits: 50, referenceTotal: 100, currentHits: 50, currentTotal: 100)
        #expect(z.statistic == 0 && z.pValue == 1)
        #expect(DriftStatistics.twoProportionZ(referenceHits: 90, referenceTotal: 100, currentHits: 10, currentTotal: 100).pValue < 1e-10)
    }
}
