/// Scores for one user over every item of a mapped model, by the route the user's situation
/// calls for: the model's own factors or neighbours, or a fold-in from their ratings.
extension MappedModel {
    public struct UserScores {
        public var scores: [Float]
        public var method: String
    }

    /// `ratings` are the user's ratings from the database (raw movie id, rating): all of them,
    /// including those newer than the model. nil when the model cannot score this user.
    public func scores(user id: Int32, ratings: [(Int32, Float)]) -> UserScores? {
        let user = userIndex(id)
        let mu = metadata.globalMean, scale = metadata.scale
        switch metadata.algorithm {
        case .normal:
            guard user >= 0 || !ratings.isEmpty else { return nil }
            var random = SeededGenerator(seed: UInt64(UInt32(bitPattern: id)) ^ (metadata.normalSeed ?? 0))
            let deviation = metadata.normalDeviation ?? 0
            return UserScores(scores: (0..<itemCount).map { _ in scale.clip(mu + deviation * Float(random.normal())) }, method: "normal")
        case .svd:
            let stride = metadata.svdStride ?? 0
            let bu = array("UBIA", Float.self), bi = array("IBIA", Float.self)
            let p = array("UFAC", Float.self), q = array("IFAC", Float.self)
            var factors = [Float](repeating: 0, count: stride)
            var bias: Float = 0
            let method: String
            if user >= 0 {
                for f in 0..<stride { factors[f] = p[Int(user) * stride + f] }
                bias = bu[Int(user)]
                method = "svd"
            } else {
                guard let folded = foldIn(ratings, stride: stride, bi: bi, q: q) else { return nil }
                (factors, bias) = folded
                method = "svd_fold_in"
            }
            var scores = [Float](repeating: 0, count: itemCount)
            let itemCount = itemCount
            scores.withUnsafeMutableBufferPointer { out in
                factors.withUnsafeBufferPointer { pu in
                    let user = UnsafeRawPointer(pu.baseAddress!), items = UnsafeRawPointer(q.baseAddress!)
                    let rowBytes = stride * MemoryLayout<Float>.size, lanes = stride / 8
                    var item = 0
                    while item + 4 <= itemCount {
                        let products = dotsOfFour(user, items + item * rowBytes, rowBytes: rowBytes, lanes: lanes)
                        for k in 0..<4 { out[item + k] = scale.clip(mu + bias + bi[item + k] + products[k]) }
                        item += 4
                    }
                    while item < itemCount {
                        out[item] = scale.clip(mu + bias + bi[item] + dot(pu.baseAddress!, q.baseAddress! + item * stride, stride))
                        item += 1
                    }
                }
            }
            return UserScores(scores: scores, method: method)
        case .knn:
            return knnScores(user: user, ratings: ratings)
        }
    }

    /// Ridge regression of the user's bias and factors against the fixed item factors:
    /// minimises Σ (r − μ − b_i − b_u − p·q_i)² + n·λ(|p|² + b_u²), the per-user part of the
    /// objective SVD was trained on, so a user who rated after training is scored at once.
    func foldIn(_ ratings: [(Int32, Float)], stride: Int, bi: UnsafeBufferPointer<Float>, q: UnsafeBufferPointer<Float>) -> ([Float], Float)? {
        let known = ratings.compactMap { (id, rating) -> (Int, Float)? in let i = itemIndex(id); return i >= 0 ? (Int(i), rating) : nil }
        guard !known.isEmpty else { return nil }
        let k = metadata.svd?.factors ?? stride, n = k + 1
        let lambda = Double(known.count) * Double(metadata.svd?.regularization ?? 0.02) + 1e-6
        var a = [Double](repeating: 0, count: n * n), b = [Double](repeating: 0, count: n)
        var x = [Double](repeating: 0, count: n)
        for (item, rating) in known {
            for f in 0..<k { x[f] = Double(q[item * stride + f]) }
            x[k] = 1
            let target = Double(rating - metadata.globalMean - bi[item])
            for r in 0..<n {
                b[r] += x[r] * target
                for c in 0...r { a[r * n + c] += x[r] * x[c] }
            }
        }
        for r in 0..<n { a[r * n + r] += lambda }
        guard let solution = choleskySolve(&a, b, n) else { return nil }
        var factors = [Float](repeating: 0, count: stride)
        for f in 0..<k { factors[f] = Float(solution[f]) }
        return (factors, Float(solution[k]))
    }

    private func knnScores(user: Int32, ratings: [(Int32, Float)]) -> UserScores? {
        let k = metadata.knn?.k ?? 40, minK = metadata.knn?.minK ?? 1
        let mu = metadata.globalMean, scale = metadata.scale
        let offsets = array("NOFF", Int64.self), neighbours = array("NBRS", Int32.self), similarities = array("NSIM", Float.self)
        if metadata.knnUserBased == false {
            // Item-based: an item's neighbours that the user rated, from the user's current ratings.
            var ratingOf = [Float](repeating: 0, count: itemCount)
            var any = false
            for (id, rating) in ratings { let i = itemIndex(id); if i >= 0 { ratingOf[Int(i)] = rating + 1; any = true } }
            guard any else { return nil }
            var scores = [Float](repeating: mu, count: itemCount)
            for item in 0..<itemCount {
                var found = 0, sumSim: Float = 0, sumRatings: Float = 0
                var index = Int(offsets[item])
                let end = Int(offsets[item + 1])
                while index < end && found < k {
                    let stored = ratingOf[Int(neighbours[index])]
                    if stored > 0 { found += 1; sumSim += similarities[index]; sumRatings += similarities[index] * (stored - 1) }
                    index += 1
                }
                scores[item] = scale.clip(found >= minK && sumSim > 0 ? sumRatings / sumSim : mu)
            }
            return UserScores(scores: scores, method: "knn_item_based")
        }
        // User-based: the user's neighbours (from the model, or computed now from their ratings).
        var list: [(Int32, Float)] = []
        var method = "knn_user_based"
        if user >= 0 {
            for index in Int(offsets[Int(user)])..<Int(offsets[Int(user) + 1]) { list.append((neighbours[index], similarities[index])) }
        } else {
            let columnOffsets = array("COFF", Int64.self), columnRows = array("CROW", Int32.self), columnRatings = array("CRAT", Float.self)
            let rows = userIDs.count
            var squares = [Float](repeating: 0, count: rows), counts = [Int32](repeating: 0, count: rows)
            var touched: [Int32] = []
            for (id, rating) in ratings {
                let item = itemIndex(id)
                guard item >= 0 else { continue }
                for index in Int(columnOffsets[Int(item)])..<Int(columnOffsets[Int(item) + 1]) {
                    let other = Int(columnRows[index])
                    if counts[other] == 0 { touched.append(Int32(other)) }
                    let d = rating - columnRatings[index]
                    squares[other] += d * d
                    counts[other] += 1
                }
            }
            guard !touched.isEmpty else { return nil }
            list = touched.map { ($0, 1 / (squares[Int($0)] / Float(counts[Int($0)]) + 1)) }
            list.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            if list.count > (metadata.knn?.neighbourLimit ?? 200) && metadata.knnExact != true { list.removeLast(list.count - (metadata.knn?.neighbourLimit ?? 200)) }
            method = "knn_user_based_fold_in"
        }
        let rowOffsets = array("ROFF", Int64.self), rowColumns = array("RCOL", Int32.self), rowValues = array("RVAL", Float.self)
        var found = [Int32](repeating: 0, count: itemCount)
        var sums = [Float](repeating: 0, count: itemCount), weights = [Float](repeating: 0, count: itemCount)
        for (neighbour, similarity) in list {
            for entry in Int(rowOffsets[Int(neighbour)])..<Int(rowOffsets[Int(neighbour) + 1]) {
                let item = Int(rowColumns[entry])
                guard found[item] < k else { continue }
                found[item] += 1
                sums[item] += similarity * rowValues[entry]
                weights[item] += similarity
            }
        }
        let scores = (0..<itemCount).map { item in
            scale.clip(Int(found[item]) >= minK && weights[item] > 0 ? sums[item] / weights[item] : mu)
        }
        return UserScores(scores: scores, method: method)
    }
}

/// Solves A x = b for a symmetric positive-definite A given by its lower triangle (row-major n×n).
func choleskySolve(_ a: inout [Double], _ b: [Double], _ n: Int) -> [Double]? {
    for j in 0..<n {
        var diagonal = a[j * n + j]
        for p in 0..<j { diagonal -= a[j * n + p] * a[j * n + p] }
        guard diagonal > 1e-12 else { return nil }
        let root = diagonal.squareRoot()
        a[j * n + j] = root
        for i in (j + 1)..<max(j + 1, n) {
            var value = a[i * n + j]
            for p in 0..<j { value -= a[i * n + p] * a[j * n + p] }
            a[i * n + j] = value / root
        }
    }
    var y = b
    for i in 0..<n {
        var value = y[i]
        for p in 0..<i { value -= a[i * n + p] * y[p] }
        y[i] = value / a[i * n + i]
    }
    var x = y
    for i in stride(from: n - 1, through: 0, by: -1) {
        var value = x[i]
        for p in (i + 1)..<max(i + 1, n) { value -= a[p * n + i] * x[p] }
        x[i] = value / a[i * n + i]
    }
    return x
}

/// p·q for four consecutive item rows at once. Each row has its own accumulator, so the four
/// chains of fused multiply-adds overlap instead of each add waiting for the last (one chain
/// per item held scoring to the adder's latency), and each load of p serves four rows.
/// `lanes` is the row length in groups of eight floats (rows are padded to a multiple of 8).
@inline(__always)
func dotsOfFour(_ p: UnsafeRawPointer, _ rows: UnsafeRawPointer, rowBytes: Int, lanes: Int) -> SIMD4<Float> {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    for lane in 0..<lanes {
        let offset = lane * 32
        let x = p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
        a0.addProduct(x, rows.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
        a1.addProduct(x, rows.loadUnaligned(fromByteOffset: rowBytes + offset, as: SIMD8<Float>.self))
        a2.addProduct(x, rows.loadUnaligned(fromByteOffset: 2 * rowBytes + offset, as: SIMD8<Float>.self))
        a3.addProduct(x, rows.loadUnaligned(fromByteOffset: 3 * rowBytes + offset, as: SIMD8<Float>.self))
    }
    return SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
}
