/// Surprise's NormalPredictor: a draw from N(μ̂, σ̂²), both maximum-likelihood estimates
/// (σ̂ divides by N). A baseline every real model has to beat.
public struct NormalModel: Sendable {
    public var mean: Float
    public var deviation: Float
    public var seed: UInt64

    public static func fit(_ data: RatingData, seed: UInt64) -> NormalModel {
        let mean = data.globalMean
        var squares = 0.0
        for rating in data.ratings { let d = Double(rating) - mean; squares += d * d }
        let deviation = data.count > 0 ? (squares / Double(data.count)).squareRoot() : 0
        return NormalModel(mean: Float(mean), deviation: Float(deviation), seed: seed)
    }

    /// One draw; the generator makes evaluation repeatable for a seed.
    @inline(__always)
    public func draw(_ random: inout SeededGenerator) -> Float {
        mean + deviation * Float(random.normal())
    }
}
