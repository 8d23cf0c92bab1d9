#if canImport(Glibc)
import Glibc
#endif

/// The statistics drift detection runs, written to give scipy's numbers (to 1e-9 relative)
/// on the same samples. Samples are weighted empirical distributions, (value, count) pairs
/// sorted by value, which is what the baselines store instead of millions of raw rows.
public struct WeightedSample: Codable, Sendable, Equatable {
    public var values: [Double]
    public var counts: [Double]

    public init(values: [Double], counts: [Double]) {
        self.values = values
        self.counts = counts
    }

    /// From raw observations (ties merged).
    public init(_ observations: [Double]) {
        var merged: [Double: Double] = [:]
        for value in observations where value.isFinite { merged[value, default: 0] += 1 }
        let keys = merged.keys.sorted()
        self.init(values: keys, counts: keys.map { merged[$0] ?? 0 })
    }

    public var total: Double { counts.reduce(0, +) }
    public var isEmpty: Bool { total == 0 }

    public var mean: Double { zip(values, counts).reduce(0) { $0 + $1.0 * $1.1 } / max(total, 1) }

    /// Population standard deviation (ddof 0), as Evidently normalises Wasserstein.
    public var standardDeviation: Double {
        let mean = self.mean, n = max(total, 1)
        return (zip(values, counts).reduce(0) { $0 + $1.1 * ($1.0 - mean) * ($1.0 - mean) } / n).squareRoot()
    }
}

public enum DriftStatistics {
    // MARK: Kolmogorov-Smirnov (scipy.stats.ks_2samp, two-sided, method 'auto')

    public struct KSResult: Sendable { public var statistic: Double; public var pValue: Double }

    public static func ks2samp(_ a: WeightedSample, _ b: WeightedSample) -> KSResult {
        let n1 = Int(a.total.rounded()), n2 = Int(b.total.rounded())
        guard n1 > 0, n2 > 0 else { return KSResult(statistic: .nan, pValue: .nan) }
        // The largest gap between the two empirical CDFs, evaluated at every observed value.
        var i = 0, j = 0
        var cdfA = 0.0, cdfB = 0.0
        var maxPlus = 0.0, maxMinus = 0.0
        while i < a.values.count || j < b.values.count {
            let next = min(i < a.values.count ? a.values[i] : .infinity, j < b.values.count ? b.values[j] : .infinity)
            if i < a.values.count && a.values[i] == next { cdfA += a.counts[i]; i += 1 }
            if j < b.values.count && b.values[j] == next { cdfB += b.counts[j]; j += 1 }
            let difference = cdfA / Double(n1) - cdfB / Double(n2)
            maxPlus = max(maxPlus, difference)
            maxMinus = max(maxMinus, -difference)
        }
        var d = min(max(maxMinus, 0), 1) > maxPlus ? min(max(maxMinus, 0), 1) : maxPlus
        if max(n1, n2) <= 10_000, let exact = exactKS(n1, n2, d: &d) {
            return KSResult(statistic: d, pValue: min(max(exact, 0), 1))
        }
        let (m, n) = (Double(max(n1, n2)), Double(min(n1, n2)))
        let en = (m * n / (m + n)).rounded(.toNearestOrEven)
        return KSResult(statistic: d, pValue: min(max(kolmogorovSF(Int(en), d), 0), 1))
    }

    /// scipy's `_attempt_exact_2kssamp` (two-sided); nil when it would fall back to 'asymp'.
    static func exactKS(_ n1: Int, _ n2: Int, d: inout Double) -> Double? {
        let g = gcd(n1, n2)
        let lcm = (n1 / g) * n2
        let h = Int((d * Double(lcm)).rounded(.toNearestOrEven))
        d = Double(h) / Double(lcm)
        if h == 0 { return 1 }
        let probability = n1 == n2 ? probabilityOutsideSquare(n1, h) : outerProbabilityInside(n1, n2, g, h)
        guard probability.isFinite, probability >= 0, probability <= 1 else { return nil }
        return probability
    }

    static func probabilityOutsideSquare(_ n: Int, _ h: Int) -> Double {
        var total = 0.0
        var k = n / h
        while k >= 0 {
            var p1 = 1.0
            for j in 0..<h { p1 = Double(n - k * h - j) * p1 / Double(n + k * h + j + 1) }
            total = p1 * (1 - total)
            k -= 1
        }
        return 2 * total
    }

    /// Hodges' inside method computing 1 − p directly (Viehmann 2021), as scipy does.
    static func outerProbabilityInside(_ m0: Int, _ n0: Int, _ g: Int, _ h: Int) -> Double {
        let (m, n) = m0 < n0 ? (n0, m0) : (m0, n0)
        let mg = m / g, ng = n / g
        var minj = 0
        var maxj = min(Int((Double(h) / Double(mg)).rounded(.up)), n + 1)
        var curlen = maxj - minj
        let lenA = min(2 * maxj + 2, n + 1)
        var a = [Double](repeating: 1, count: lenA)
        for index in minj..<maxj { a[index] = 0 }
        for i in 1...m {
            let lastminj = minj, lastlen = curlen
            minj = max(Int((Double(ng * i - h) / Double(mg)).rounded(.down)) + 1, 0)
            minj = min(minj, n)
            maxj = min(Int((Double(ng * i + h) / Double(mg)).rounded(.up)), n + 1)
            if maxj <= minj { return 1 }
            var value = minj == 0 ? 0.0 : 1.0
            for jj in 0..<(maxj - minj) {
                let j = jj + minj
                value = (a[jj + minj - lastminj] * Double(i) + value * Double(j)) / Double(i + j)
                a[jj] = value
            }
            curlen = maxj - minj
            if lastlen > curlen {
                for index in (maxj - minj)..<min(maxj - minj + (lastlen - curlen), lenA) { a[index] = 1 }
            }
        }
        return a[maxj - minj - 1]
    }

    /// The survival function of the two-sided one-sample Kolmogorov statistic D_n
    /// (scipy.stats.kstwo.sf, Simard and L'Ecuyer's selection of methods).
    static func kolmogorovSF(_ n: Int, _ x: Double) -> Double {
        if x >= 1 { return 0 }
        if x <= 0 { return 1 }
        let nd = Double(n), t = nd * x
        if t <= 1 {
            if t <= 0.5 { return 1 }
            let probability: Double
            if n <= 140 {
                var p = 1.0
                for i in 1...n { p *= Double(i) * (1 / nd) * (2 * t - 1) }
                probability = p
            } else {
                probability = exp(logFactorialOverPower(nd) + nd * log(2 * t - 1))
            }
            return clip(1 - probability)
        }
        if t >= nd - 1 { return clip(2 * pow(1 - x, nd)) }
        if x >= 0.5 { return clip(2 * smirnov(n, x)) }
        let nxSquared = t * x
        if n <= 140 {
            if nxSquared <= 0.754693 { return clip(1 - durbinMTW(n, x)) }
            if nxSquared <= 4 { return clip(1 - pomeranz(n, x)) }
            return clip(2 * smirnov(n, x))
        }
        if nxSquared >= 370 { return 0 }
        if nxSquared >= 2.2 { return clip(2 * smirnov(n, x)) }
        let cdf: Double
        if nxSquared >= 18 { cdf = 1 }
        else if n <= 100_000 && nd * pow(x, 1.5) <= 1.4 { cdf = durbinMTW(n, x) }
        else { cdf = pelzGood(n, x) }
        return clip(1 - cdf)
    }

    static func clip(_ p: Double) -> Double { min(max(p, 0), 1) }

    static func logFactorialOverPower(_ n: Double) -> Double {
        let coefficients = [-2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                            -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2]
        let rn = 1 / n
        var poly = 0.0
        for c in coefficients { poly = poly * (rn / n) + c }
        return log(n) / 2 - n + log(2 * Double.pi) / 2 + rn * poly
    }

    /// Durbin's matrix algorithm (Marsaglia, Tsang and Wang): Pr(D_n ≤ d).
    static func durbinMTW(_ n: Int, _ d: Double) -> Double {
        let e128 = 128, ep128 = scalbn(1.0, 128), em128 = scalbn(1.0, -128)
        let nd = Double(n) * d
        if d >= 1 { return 1 }
        if nd <= 0.5 { return 0 }
        let k = Int(nd.rounded(.up))
        let h = Double(k) - nd
        let m = 2 * k - 1
        var hMatrix = [Double](repeating: 0, count: m * m)
        var v = (1...m).map { 1 - pow(h, Double($0)) }
        var w = [Double](repeating: 0, count: m)
        var factor = 1.0
        for j in 1...m {
            w[j - 1] = factor
            factor /= Double(j)
            v[j - 1] *= factor
        }
        let tt = pow(max(2 * h - 1, 0), Double(m)) - 2 * pow(h, Double(m))
        v[m - 1] = (1 + tt) * factor
        for i in 1..<max(m, 1) {
            for row in (i - 1)..<m where row - (i - 1) < m - i + 1 { hMatrix[row * m + i] = w[row - (i - 1)] }
        }
        for row in 0..<m { hMatrix[row * m] = v[row] }
        for column in 0..<m { hMatrix[(m - 1) * m + column] = v[m - 1 - column] }
        var power = [Double](repeating: 0, count: m * m)
        for index in 0..<m { power[index * m + index] = 1 }
        var nn = n, exponent = 0, hExponent = 0
        func multiply(_ x: [Double], _ y: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: m * m)
            for r in 0..<m { for c in 0..<m { var s = 0.0; for q in 0..<m { s += x[r * m + q] * y[q * m + c] }; out[r * m + c] = s } }
            return out
        }
        while nn > 0 {
            if nn % 2 == 1 { power = multiply(power, hMatrix); exponent += hExponent }
            hMatrix = multiply(hMatrix, hMatrix)
            hExponent *= 2
            if abs(hMatrix[(k - 1) * m + (k - 1)]) > ep128 {
                for index in hMatrix.indices { hMatrix[index] /= ep128 }
                hExponent += e128
            }
            nn /= 2
        }
        var p = power[(k - 1) * m + (k - 1)]
        for i in 1...n {
            p = Double(i) * p / Double(n)
            if abs(p) < em128 { p *= ep128; exponent -= e128 }
        }
        if exponent != 0 { p = scalbn(p, Int32(exponent)) }
        return clip(p)
    }

    /// Pomeranz's recursion: Pr(D_n ≤ x).
    static func pomeranz(_ n: Int, _ x: Double) -> Double {
        let e128 = 128, ep128 = scalbn(1.0, 128), em128 = scalbn(1.0, -128)
        let t = Double(n) * x
        let ll = Int(t.rounded(.down))
        let f = t - Double(ll)
        let g = min(f, 1 - f)
        let ceilf = f > 0 ? 1 : 0, roundf = f > 0.5 ? 1 : 0
        let npwrs = 2 * (ll + 1)
        var gpower = [Double](repeating: 1, count: npwrs), twogpower = gpower, onem2gpower = gpower
        let gOverN = g / Double(n), twoGOverN = 2 * g / Double(n), oneMinusTwoGOverN = (1 - 2 * g) / Double(n)
        for m in 1..<npwrs {
            gpower[m] = gpower[m - 1] * gOverN / Double(m)
            twogpower[m] = twogpower[m - 1] * twoGOverN / Double(m)
            onem2gpower[m] = onem2gpower[m - 1] * oneMinusTwoGOverN / Double(m)
        }
        func bounds(_ i: Int) -> (Int, Int) {
            var j1: Int, j2: Int
            if i == 0 { (j1, j2) = (-ll - ceilf - 1, ll + ceilf - 1) }
            else {
                let (half, odd) = ((i + 1) / 2, (i + 1) % 2)
                if odd == 0 {
                    if half == n + 1 { (j1, j2) = (n - ll - ceilf - 1, n + ll + ceilf - 1) }
                    else { (j1, j2) = (half - 1 - ll - roundf - 1, half + ll - 1 + ceilf - 1) }
                } else { (j1, j2) = (half - 1 - ll - 1, half + ll + roundf - 1) }
            }
            return (max(j1 + 2, 0), min(j2, n))
        }
        var v0 = [Double](repeating: 0, count: npwrs), v1 = [Double](repeating: 0, count: npwrs)
        v1[0] = 1
        var v0s = 0, v1s = 0, exponent = 0
        var (j1, j2) = bounds(0)
        for i in 1..<(2 * n + 2) {
            let k1 = j1
            swap(&v0, &v1)
            swap(&v0s, &v1s)
            for index in v1.indices { v1[index] = 0 }
            (j1, j2) = bounds(i)
            let powers = (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 == 1 ? twogpower : onem2gpower)
            let ln2 = j2 - k1 + 1
            if ln2 > 0 {
                let start = k1 - v0s
                let convStart = j1 - k1, convLength = j2 - j1 + 1
                for out in 0..<max(convLength, 0) {
                    let position = convStart + out  // index into the full convolution of length 2*ln2-1
                    var sum = 0.0
                    for q in max(0, position - (ln2 - 1))...min(position, ln2 - 1) {
                        let left = start + q
                        let value = left >= 0 && left < v0.count ? v0[left] : 0
                        sum += value * powers[position - q]
                    }
                    v1[out] = sum
                }
                let largest = v1.max() ?? 0
                if largest > 0 && largest < em128 {
                    for index in v1.indices { v1[index] *= ep128 }
                    exponent -= e128
                }
                v1s = v0s + j1 - k1
            }
        }
        var answer = v1[n - v1s]
        for m in 1...n {
            if abs(answer) > ep128 { answer *= em128; exponent += e128 }
            answer *= Double(m)
        }
        if exponent != 0 { answer = scalbn(answer, Int32(exponent)) }
        return clip(answer)
    }

    /// Pelz and Good's asymptotic series: Pr(D_n ≤ x).
    static func pelzGood(_ n: Int, _ x: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let pi2 = Double.pi * Double.pi, pi4 = pi2 * pi2, pi6 = pi4 * pi2
        let z = Double(n).squareRoot() * x
        let z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2
        let qlog = -pi2 / 8 / z2
        if qlog < log(Double.leastNormalMagnitude) { return 0 }
        var q = exp(qlog)
        let k1a = -z2, k1b = pi2 / 4
        let k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16
        let k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16
        let k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * pow(z, 8)
        var terms = [0.0, 0.0, 0.0, 0.0]
        let maxk = Int((16 * z / Double.pi).rounded(.up))
        for k in stride(from: maxk, to: 0, by: -1) {
            let m = Double(2 * k - 1)
            let m2 = m * m, m4 = m2 * m2, m6 = m4 * m2
            let qpower = pow(q, Double(8 * k))
            let coefficients = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6]
            for index in 0..<4 { terms[index] = terms[index] * qpower + coefficients[index] }
        }
        let sqrt2pi = (2 * Double.pi).squareRoot()
        let divisors = [z, 6 * z4, 72 * pow(z, 7), 6480 * pow(z, 10)]
        for index in 0..<4 { terms[index] = terms[index] * q * sqrt2pi / divisors[index] }
        q = exp(-pi2 / 2 / z2)
        var k2extra = 0.0, k3extra = 0.0
        let sqrt3z = 3.0.squareRoot() * z
        for k in stride(from: maxk, to: 0, by: -1) {
            let ks = Double(k * k), qp = pow(q, ks), kspi = Double.pi * Double(k)
            k2extra += ks * qp
            k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks * qp
        }
        terms[2] += k2extra * pi2 * sqrt2pi / (-36 * z3)
        terms[3] += k3extra * pi2 * sqrt2pi / (216 * z6)
        for index in 0..<4 { terms[index] /= pow(Double(n), Double(index) / 2) }
        return terms.reduce(0, +)
    }

    /// Pr(D+_n ≥ x), the one-sided statistic (Birnbaum and Tingey's exact sum, in logarithms).
    static func smirnov(_ n: Int, _ x: Double) -> Double {
        if x <= 0 { return 1 }
        if x >= 1 { return 0 }
        let nd = Double(n)
        let last = Int((nd * (1 - x)).rounded(.down))
        var sum = 0.0
        let logN = logGamma(nd + 1)
        for j in 0...max(last, 0) {
            let jd = Double(j)
            let a = 1 - x - jd / nd, b = x + jd / nd
            guard a > 0 || j == n else { continue }
            let logTerm = logN - logGamma(jd + 1) - logGamma(nd - jd + 1) + (nd - jd) * log(max(a, .leastNonzeroMagnitude)) + (jd - 1) * log(b)
            sum += exp(logTerm)
        }
        return clip(x * sum)
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    // MARK: Wasserstein-1 (scipy.stats.wasserstein_distance)

    public static func wasserstein(_ u: WeightedSample, _ v: WeightedSample) -> Double {
        let all = Array(Set(u.values + v.values)).sorted()
        guard all.count > 1 else { return 0 }
        let totalU = u.total, totalV = v.total
        var i = 0, j = 0, cdfU = 0.0, cdfV = 0.0, distance = 0.0
        for index in 0..<(all.count - 1) {
            while i < u.values.count && u.values[i] <= all[index] { cdfU += u.counts[i]; i += 1 }
            while j < v.values.count && v.values[j] <= all[index] { cdfV += v.counts[j]; j += 1 }
            distance += abs(cdfU / totalU - cdfV / totalV) * (all[index + 1] - all[index])
        }
        return distance
    }

    // MARK: chi-squared goodness of fit (scipy.stats.chisquare)

    public struct ChiSquareResult: Sendable { public var statistic: Double; public var pValue: Double }

    public static func chiSquare(observed: [Double], expected: [Double]) -> ChiSquareResult {
        var statistic = 0.0
        for (o, e) in zip(observed, expected) { statistic += (o - e) * (o - e) / e }
        let freedom = Double(observed.count - 1)
        guard freedom > 0 else { return ChiSquareResult(statistic: statistic, pValue: .nan) }
        if statistic.isInfinite { return ChiSquareResult(statistic: statistic, pValue: 0) }
        return ChiSquareResult(statistic: statistic, pValue: regularizedGammaQ(freedom / 2, statistic / 2))
    }

    /// Q(a, x) = Γ(a, x) / Γ(a): series below a + 1, continued fraction above (Numerical Recipes' gser/gcf).
    static func regularizedGammaQ(_ a: Double, _ x: Double) -> Double {
        if x <= 0 { return 1 }
        let logGammaA = logGamma(a)
        if x < a + 1 {
            var term = 1 / a, sum = term, ap = a
            for _ in 0..<10_000 {
                ap += 1
                term *= x / ap
                sum += term
                if abs(term) < abs(sum) * 1e-17 { break }
            }
            return 1 - sum * exp(-x + a * log(x) - logGammaA)
        }
        let tiny = 1e-300
        var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1...10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b; if abs(d) < tiny { d = tiny }
            c = b + an / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-17 { break }
        }
        return exp(-x + a * log(x) - logGammaA) * h
    }

    // MARK: Jensen-Shannon distance (scipy.spatial.distance.jensenshannon, natural log)

    public static func jensenShannon(_ p0: [Double], _ q0: [Double]) -> Double {
        let sp = p0.reduce(0, +), sq = q0.reduce(0, +)
        let p = p0.map { $0 / sp }, q = q0.map { $0 / sq }
        var divergence = 0.0
        for (pi, qi) in zip(p, q) {
            let m = (pi + qi) / 2
            if pi > 0 { divergence += pi * log(pi / m) / 2 }
            if qi > 0 { divergence += qi * log(qi / m) / 2 }
        }
        return max(divergence, 0).squareRoot()
    }

    // MARK: PSI and the two-proportion Z-test (Evidently)

    /// Σ (ref% − cur%) ln(ref% / cur%), empty bins replaced by 0.0001.
    public static func psi(reference: [Double], current: [Double]) -> Double {
        let sr = reference.reduce(0, +), sc = current.reduce(0, +)
        var value = 0.0
        for (r, c) in zip(reference, current) {
            let rp = r / sr == 0 ? 0.0001 : r / sr, cp = c / sc == 0 ? 0.0001 : c / sc
            value += (rp - cp) * log(rp / cp)
        }
        return value
    }

    /// Evidently's z-stat test for two proportions: p = 2·(1 − Φ(|z|)).
    public static func twoProportionZ(referenceHits: Double, referenceTotal: Double, currentHits: Double, currentTotal: Double) -> (statistic: Double, pValue: Double) {
        let p1 = referenceHits / referenceTotal, p2 = currentHits / currentTotal
        let pooled = (referenceHits + currentHits) / (referenceTotal + currentTotal)
        let se = (pooled * (1 - pooled) * (1 / referenceTotal + 1 / currentTotal)).squareRoot()
        guard se > 0 else { return (0, 1) }
        let z = (p1 - p2) / se
        return (z, erfc(abs(z) / 2.0.squareRoot()))
    }
}

/// ln Γ(x) (Glibc's lgamma is ambiguous between its overlays in Swift).
@inline(__always) func logGamma(_ x: Double) -> Double { Glibc.lgamma(x) }
