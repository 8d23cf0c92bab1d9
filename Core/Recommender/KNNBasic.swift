import Dispatch

/// Surprise's KNNBasic with MSD similarity: sim(x, y) = 1 / (msd + 1), msd the mean squared
/// difference over co-rated entries (0 when there are none). To predict (x, c): among the rows
/// that rated c, the k most similar to x; est = Σ sim·r / Σ sim over those with sim > 0;
/// fewer than min_k of them is "impossible" (the global mean, flagged).
///
/// Rows are users (user-based, Surprise's default) or items. Surprise keeps a dense rows×rows
/// matrix (24 bytes a pair: ~460 GB for MovieLens-20M users); we keep, per row, its neighbours
/// with sim > 0 sorted by similarity, all of them when the data is small (exactly Surprise's
/// answer) and the `neighbourLimit` best when it is not.
public struct KNNParameters: Codable, Sendable, Equatable {
    public var k = 40
    public var minK = 1
    /// nil: decide by size (user-based when exact user-based fits, else the smaller side).
    public var userBased: Bool?
    /// Neighbours kept per row when the rows are too many to keep them all.
    public var neighbourLimit = 200

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable { case k, minK = "min_k", userBased = "user_based", neighbourLimit = "neighbour_limit" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        k = try c.decodeIfPresent(Int.self, forKey: .k) ?? 40
        minK = try c.decodeIfPresent(Int.self, forKey: .minK) ?? 1
        userBased = try c.decodeIfPresent(Bool.self, forKey: .userBased)
        neighbourLimit = try c.decodeIfPresent(Int.self, forKey: .neighbourLimit) ?? 200
    }

    public func validate() throws(FunctionError) {
        guard (1...10_000).contains(k) else { throw .invalidInput("knn.k must be between 1 and 10000, got \(k)") }
        guard (1...k).contains(minK) else { throw .invalidInput("knn.min_k must be between 1 and k, got \(minK)") }
        guard (k...100_000).contains(neighbourLimit) else { throw .invalidInput("knn.neighbour_limit must be at least k") }
    }

    /// Rows up to this many keep every neighbour (exact); 8000² pairs is 512 MB.
    static let exactRowLimit = 8_000
    /// When neighbours are cut to the best `neighbourLimit`, a pair needs this many co-ratings to
    /// compete: otherwise the list fills with pairs that agreed once by chance (MSD gives them sim 1).
    static let truncatedMinSupport: Int32 = 5
}

public struct KNNModel: Sendable {
    public var parameters: KNNParameters
    public var userBased: Bool
    public var exact: Bool
    public var globalMean: Float
    /// Per row: neighbours `offsets[r] ..< offsets[r + 1]` in `neighbours`/`similarities`, best first.
    public var offsets: [Int]
    public var neighbours: [Int32]
    public var similarities: [Float]
    /// The training ratings by column (item for user-based): which rows rated it, and how.
    public var columnOffsets: [Int]
    public var columnRows: [Int32]
    public var columnRatings: [Float]
    /// The same ratings by row (what each row rated), for ranking all columns of one row.
    public var ratingsByRow: RowRatings

    public struct RowRatings: Sendable {
        public var offsets: [Int]
        public var columns: [Int32]
        public var values: [Float]
    }

    public var variant: String { (userBased ? "user-based" : "item-based") + (exact ? ", exact" : ", top \(parameters.neighbourLimit) neighbours per row") }

    public static func fit(_ data: RatingData, parameters: KNNParameters, threads: Int? = nil) -> KNNModel {
        let userBased = parameters.userBased ?? (data.userCount <= KNNParameters.exactRowLimit || data.userCount <= data.itemCount)
        // Row lists (what each row rated) and column lists (who rated each column).
        let byItem = data.byItem()
        let rowOffsets: [Int], rowColumns: [Int32], rowRatings: [Float]
        let columnOffsets: [Int], columnRows: [Int32], columnRatings: [Float]
        if userBased {
            (rowOffsets, rowColumns, rowRatings) = (data.userOffsets, data.items, data.ratings)
            (columnOffsets, columnRows, columnRatings) = (byItem.offsets, byItem.users, byItem.ratings)
        } else {
            (rowOffsets, rowColumns, rowRatings) = (byItem.offsets, byItem.users, byItem.ratings)
            (columnOffsets, columnRows, columnRatings) = (data.userOffsets, data.items, data.ratings)
        }
        let rows = rowOffsets.count - 1
        let exact = rows <= KNNParameters.exactRowLimit
        let limit = exact ? max(rows, 1) : parameters.neighbourLimit
        let threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)

        // Each row's neighbour list is computed independently: squared differences and counts
        // against every other row, accumulated through the columns the row rated.
        let chunk = max(1, (rows + threadCount * 8 - 1) / (threadCount * 8))
        let results = UnsafeMutableBufferPointer<[(Int32, Float)]>.allocate(capacity: rows)
        results.initialize(repeating: [])
        let shared = SharedBuffer(results)
        rowOffsets.withUnsafeBufferPointer { ro in rowColumns.withUnsafeBufferPointer { rc in rowRatings.withUnsafeBufferPointer { rr in
        columnOffsets.withUnsafeBufferPointer { co in columnRows.withUnsafeBufferPointer { cr in columnRatings.withUnsafeBufferPointer { cv in
            let input = SharedInput(ro: ro, rc: rc, rr: rr, co: co, cr: cr, cv: cv)
            DispatchQueue.concurrentPerform(iterations: (rows + chunk - 1) / chunk) { part in
                var squares = [Float](repeating: 0, count: rows)
                var counts = [Int32](repeating: 0, count: rows)
                var touched: [Int32] = []
                var candidates: [(Int32, Float)] = []
                for row in (part * chunk)..<min(rows, (part + 1) * chunk) {
                    touched.removeAll(keepingCapacity: true)
                    for index in input.ro[row]..<input.ro[row + 1] {
                        let column = Int(input.rc[index]), mine = input.rr[index]
                        for other in input.co[column]..<input.co[column + 1] {
                            let y = Int(input.cr[other])
                            if y == row { continue }
                            if counts[y] == 0 { touched.append(Int32(y)) }
                            let d = mine - input.cv[other]
                            squares[y] += d * d
                            counts[y] += 1
                        }
                    }
                    candidates.removeAll(keepingCapacity: true)
                    let minSupport: Int32 = exact ? 1 : KNNParameters.truncatedMinSupport
                    for y in touched {
                        if counts[Int(y)] >= minSupport {
                            let msd = squares[Int(y)] / Float(counts[Int(y)])
                            candidates.append((y, 1 / (msd + 1)))
                        }
                        squares[Int(y)] = 0
                        counts[Int(y)] = 0
                    }
                    if candidates.count > limit {
                        candidates.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
                        candidates.removeLast(candidates.count - limit)
                    } else {
                        candidates.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
                    }
                    // A fresh, exactly sized copy: storing `candidates` itself would keep its
                    // capacity (every row this thread touched) alive once per row.
                    shared.buffer[row] = Array(candidates[...])
                }
            }
        }}}}}}
        var offsets = [Int](repeating: 0, count: rows + 1)
        for row in 0..<rows { offsets[row + 1] = offsets[row] + results[row].count }
        var neighbours = [Int32](repeating: 0, count: offsets[rows])
        var similarities = [Float](repeating: 0, count: offsets[rows])
        for row in 0..<rows {
            for (position, pair) in results[row].enumerated() {
                neighbours[offsets[row] + position] = pair.0
                similarities[offsets[row] + position] = pair.1
            }
            results[row] = []  // free each row's list as it is copied
        }
        results.deinitialize()
        results.deallocate()
        return KNNModel(parameters: parameters, userBased: userBased, exact: exact, globalMean: Float(data.globalMean),
                        offsets: offsets, neighbours: neighbours, similarities: similarities,
                        columnOffsets: columnOffsets, columnRows: columnRows, columnRatings: columnRatings,
                        ratingsByRow: RowRatings(offsets: rowOffsets, columns: rowColumns, values: rowRatings))
    }

    /// Predicts (row, column) given `ratingOf`, a dense scratch array holding, for the column's
    /// raters, rating + 1 (0 = did not rate). Callers group predictions by column to fill it once.
    @inline(__always)
    func estimate(row: Int, ratingOf: UnsafePointer<Float>) -> (Float, impossible: Bool) {
        var sumSimilarity: Float = 0, sumRatings: Float = 0
        var found = 0
        var index = offsets[row]
        let end = offsets[row + 1]
        while index < end && found < parameters.k {
            let y = Int(neighbours[index])
            let stored = ratingOf[y]
            if stored > 0 {
                let similarity = similarities[index]
                found += 1
                if similarity > 0 {
                    sumSimilarity += similarity
                    sumRatings += similarity * (stored - 1)
                }
            }
            index += 1
        }
        // Neighbours are only kept with sim > 0, so `found` counts exactly Surprise's actual_k.
        if found < parameters.minK || sumSimilarity == 0 { return (globalMean, true) }
        return (sumRatings / sumSimilarity, false)
    }
}

private struct SharedBuffer: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<[(Int32, Float)]>
    init(_ buffer: UnsafeMutableBufferPointer<[(Int32, Float)]>) { self.buffer = buffer }
}

private struct SharedInput: @unchecked Sendable {
    let ro: UnsafeBufferPointer<Int>, rc: UnsafeBufferPointer<Int32>, rr: UnsafeBufferPointer<Float>
    let co: UnsafeBufferPointer<Int>, cr: UnsafeBufferPointer<Int32>, cv: UnsafeBufferPointer<Float>
}
