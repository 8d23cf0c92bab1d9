import Dispatch

/// Biased matrix factorisation trained by SGD, with Surprise's model and update rule:
/// r̂ = μ + b_u + b_i + q_i·p_u; per rating, with e computed once,
/// b_u += γ(e − λb_u), b_i += γ(e − λb_i), p_u += γ(e·q_i − λp_u), q_i += γ(e·p_u − λq_i)
/// (both factor updates from the old values).
///
/// Speed: factors are Float32 rows padded to a multiple of 8 and updated with SIMD8; the
/// ratings are cut into T×T blocks by (user group, item group) and each sub-epoch runs T
/// blocks that share no user and no item on T threads, so the threads never touch the same
/// row (DSGD: lock-free without data races).
public struct SVDParameters: Codable, Sendable, Equatable {
    public var factors = 100
    public var epochs = 20
    public var learningRate: Float = 0.005
    public var regularization: Float = 0.02
    public var initMean: Float = 0
    public var initStd: Float = 0.1
    public var seed: UInt64 = 0
    public var threads: Int?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case factors, epochs, seed, threads
        case learningRate = "lr", regularization = "reg", initMean = "init_mean", initStd = "init_std"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SVDParameters()
        factors = try c.decodeIfPresent(Int.self, forKey: .factors) ?? defaults.factors
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? defaults.learningRate
        regularization = try c.decodeIfPresent(Float.self, forKey: .regularization) ?? defaults.regularization
        initMean = try c.decodeIfPresent(Float.self, forKey: .initMean) ?? defaults.initMean
        initStd = try c.decodeIfPresent(Float.self, forKey: .initStd) ?? defaults.initStd
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
    }

    public func validate() throws(FunctionError) {
        guard (1...1000).contains(factors) else { throw .invalidInput("svd.factors must be between 1 and 1000, got \(factors)") }
        guard (1...1000).contains(epochs) else { throw .invalidInput("svd.epochs must be between 1 and 1000, got \(epochs)") }
        guard learningRate > 0, learningRate < 1 else { throw .invalidInput("svd.lr must be in (0, 1), got \(learningRate)") }
        guard regularization >= 0, regularization < 10 else { throw .invalidInput("svd.reg must be in [0, 10), got \(regularization)") }
        guard initStd >= 0, initStd.isFinite, initMean.isFinite else { throw .invalidInput("svd.init_std must be a non-negative number") }
        if let threads, !(1...64).contains(threads) { throw .invalidInput("svd.threads must be between 1 and 64") }
    }
}

public struct SVDModel: Sendable {
    public var parameters: SVDParameters
    public var globalMean: Float
    /// Row stride of the factor matrices: factors rounded up to a multiple of 8 (zero padding).
    public var stride: Int
    public var userBias: [Float]
    public var itemBias: [Float]
    public var userFactors: [Float]
    public var itemFactors: [Float]

    public static func fit(_ data: RatingData, parameters: SVDParameters) -> SVDModel {
        let k = parameters.factors
        let stride = (k + 7) / 8 * 8
        var random = SeededGenerator(seed: parameters.seed)
        var userFactors = [Float](repeating: 0, count: data.userCount * stride)
        var itemFactors = [Float](repeating: 0, count: data.itemCount * stride)
        for row in 0..<data.userCount { for f in 0..<k { userFactors[row * stride + f] = parameters.initMean + parameters.initStd * Float(random.normal()) } }
        for row in 0..<data.itemCount { for f in 0..<k { itemFactors[row * stride + f] = parameters.initMean + parameters.initStd * Float(random.normal()) } }
        var model = SVDModel(parameters: parameters, globalMean: Float(data.globalMean), stride: stride,
                             userBias: [Float](repeating: 0, count: data.userCount), itemBias: [Float](repeating: 0, count: data.itemCount),
                             userFactors: userFactors, itemFactors: itemFactors)
        model.train(data)
        return model
    }

    private mutating func train(_ data: RatingData) {
        let threads = max(1, min(parameters.threads ?? ProcessInfo.processInfo.activeProcessorCount, 64))
        let blocks = RatingBlocks(data, groups: threads, seed: parameters.seed)
        let mu = globalMean, lr = parameters.learningRate, reg = parameters.regularization, stride = self.stride
        userBias.withUnsafeMutableBufferPointer { bu in
        itemBias.withUnsafeMutableBufferPointer { bi in
        userFactors.withUnsafeMutableBufferPointer { p in
        itemFactors.withUnsafeMutableBufferPointer { q in
            let state = SGDState(bu: bu.baseAddress!, bi: bi.baseAddress!, p: p.baseAddress!, q: q.baseAddress!)
            for _ in 0..<parameters.epochs {
                for shift in 0..<threads {
                    // Blocks (g, (g + shift) % T) for every g: no two share a user group or an item group.
                    DispatchQueue.concurrentPerform(iterations: threads) { group in
                        let block = blocks.block(userGroup: group, itemGroup: (group + shift) % threads)
                        state.run(block, mu: mu, lr: lr, reg: reg, stride: stride)
                    }
                }
            }
        }}}}
    }

    /// The estimate before clipping; unknown user or item (index -1) drops the missing terms, as Surprise does.
    @inline(__always)
    public func estimate(user: Int32, item: Int32) -> Float {
        var value = globalMean
        if user >= 0 { value += userBias[Int(user)] }
        if item >= 0 { value += itemBias[Int(item)] }
        if user >= 0 && item >= 0 {
            value += userFactors.withUnsafeBufferPointer { p in
                itemFactors.withUnsafeBufferPointer { q in
                    dot(p.baseAddress! + Int(user) * stride, q.baseAddress! + Int(item) * stride, stride)
                }
            }
        }
        return value
    }
}

/// Raw pointers into the model's buffers, shared by the SGD threads (each touches only its block's rows).
private struct SGDState: @unchecked Sendable {
    let bu: UnsafeMutablePointer<Float>, bi: UnsafeMutablePointer<Float>
    let p: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>

    @inline(__always)
    func run(_ block: RatingBlocks.Block, mu: Float, lr: Float, reg: Float, stride: Int) {
        let lanes = stride / 8
        let lrv = SIMD8<Float>(repeating: lr), regv = SIMD8<Float>(repeating: reg)
        for index in block.range {
            let u = Int(block.users[index]), i = Int(block.items[index])
            let pu = UnsafeMutableRawPointer(p + u * stride), qi = UnsafeMutableRawPointer(q + i * stride)
            var acc = SIMD8<Float>()
            for lane in 0..<lanes {
                acc += pu.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self) * qi.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
            }
            let e = block.ratings[index] - (mu + bu[u] + bi[i] + acc.sum())
            bu[u] += lr * (e - reg * bu[u])
            bi[i] += lr * (e - reg * bi[i])
            let ev = SIMD8<Float>(repeating: e)
            for lane in 0..<lanes {
                let puf = pu.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
                let qif = qi.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
                pu.storeBytes(of: puf + lrv * (ev * qif - regv * puf), toByteOffset: lane * 32, as: SIMD8<Float>.self)
                qi.storeBytes(of: qif + lrv * (ev * puf - regv * qif), toByteOffset: lane * 32, as: SIMD8<Float>.self)
            }
        }
    }
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var acc = SIMD8<Float>()
    for lane in 0..<(count / 8) {
        acc += ra.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
    }
    return acc.sum()
}

/// Ratings regrouped by (user group, item group), each block in user-by-user order as Surprise walks them.
struct RatingBlocks: @unchecked Sendable {
    struct Block { let users: UnsafePointer<Int32>; let items: UnsafePointer<Int32>; let ratings: UnsafePointer<Float>; let range: Range<Int> }

    private let users: UnsafeMutableBufferPointer<Int32>
    private let items: UnsafeMutableBufferPointer<Int32>
    private let ratings: UnsafeMutableBufferPointer<Float>
    private let offsets: [Int]
    private let groups: Int
    private final class Owner: @unchecked Sendable {
        let release: () -> Void
        init(_ release: @escaping () -> Void) { self.release = release }
        deinit { release() }
    }
    private let owner: Owner

    init(_ data: RatingData, groups: Int, seed: UInt64) {
        self.groups = groups
        // Items go to groups by a seeded shuffle so that popular items spread evenly.
        var random = SeededGenerator(seed: seed ^ 0xB10C)
        var itemGroup = [Int32](repeating: 0, count: data.itemCount)
        var order = Array(0..<data.itemCount)
        for index in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(index, random.below(index + 1)) }
        for (position, item) in order.enumerated() { itemGroup[item] = Int32(position % groups) }
        var counts = [Int](repeating: 0, count: groups * groups + 1)
        for user in 0..<data.userCount {
            let ug = user % groups
            for index in data.userOffsets[user]..<data.userOffsets[user + 1] {
                counts[ug * groups + Int(itemGroup[Int(data.items[index])]) + 1] += 1
            }
        }
        for index in 0..<groups * groups { counts[index + 1] += counts[index] }
        offsets = counts
        users = .allocate(capacity: data.count)
        items = .allocate(capacity: data.count)
        ratings = .allocate(capacity: data.count)
        var cursor = counts
        for user in 0..<data.userCount {
            let ug = user % groups
            for index in data.userOffsets[user]..<data.userOffsets[user + 1] {
                let item = data.items[index]
                let block = ug * groups + Int(itemGroup[Int(item)])
                users[cursor[block]] = Int32(user)
                items[cursor[block]] = item
                ratings[cursor[block]] = data.ratings[index]
                cursor[block] += 1
            }
        }
        let (u, i, r) = (users, items, ratings)
        owner = Owner { u.deallocate(); i.deallocate(); r.deallocate() }
    }

    func block(userGroup: Int, itemGroup: Int) -> Block {
        let index = userGroup * groups + itemGroup
        return Block(users: UnsafePointer(users.baseAddress!), items: UnsafePointer(items.baseAddress!),
                     ratings: UnsafePointer(ratings.baseAddress!), range: offsets[index]..<offsets[index + 1])
    }
}
