/// The algorithms the registry can hold.
public enum Algorithm: String, Codable, Sendable, CaseIterable {
    case normal, svd, knn

    /// Surprise's class names, for reports read beside the reference system's.
    public var displayName: String {
        switch self { case .normal: return "NormalPredictor"; case .svd: return "SVD"; case .knn: return "KNNBasic" }
    }

    public init(name: String) throws(FunctionError) {
        switch name.lowercased() {
        case "normal", "normalpredictor": self = .normal
        case "svd": self = .svd
        case "knn", "knnbasic": self = .knn
        default: throw FunctionError.invalidInput("unknown model '\(name)'; use normal, svd or knn")
        }
    }
}

/// The rating scale predictions are clipped to (MovieLens-20M and later: 0.5..5).
public struct RatingScale: Codable, Sendable, Equatable {
    public var min: Float = 0.5
    public var max: Float = 5
    public init(min: Float = 0.5, max: Float = 5) { self.min = min; self.max = max }
    @inline(__always) public func clip(_ value: Float) -> Float { Swift.min(max, Swift.max(min, value)) }
}

/// A fitted model with the id maps it was trained with.
public struct TrainedModel: Sendable {
    public enum Kind: Sendable {
        case normal(NormalModel)
        case svd(SVDModel)
        case knn(KNNModel)
    }

    public var kind: Kind
    public var userIDs: [Int32]
    public var itemIDs: [Int32]
    public var scale: RatingScale
    public var globalMean: Float
    private var userIndexByID: [Int32]
    private var itemIndexByID: [Int32]

    public var algorithm: Algorithm {
        switch kind { case .normal: return .normal; case .svd: return .svd; case .knn: return .knn }
    }

    public var variant: String? { if case .knn(let model) = kind { return model.variant }; return nil }
    public var svdParameters: SVDParameters? { if case .svd(let model) = kind { return model.parameters }; return nil }
    public var knnParameters: KNNParameters? { if case .knn(let model) = kind { return model.parameters }; return nil }

    public init(kind: Kind, userIDs: [Int32], itemIDs: [Int32], scale: RatingScale, globalMean: Float) {
        self.kind = kind
        self.userIDs = userIDs
        self.itemIDs = itemIDs
        self.scale = scale
        self.globalMean = globalMean
        userIndexByID = Self.index(userIDs)
        itemIndexByID = Self.index(itemIDs)
    }

    static func index(_ ids: [Int32]) -> [Int32] {
        var map = [Int32](repeating: -1, count: Int(ids.max() ?? 0) + 1)
        for (inner, id) in ids.enumerated() { map[Int(id)] = Int32(inner) }
        return map
    }

    @inline(__always) public func userIndex(_ id: Int32) -> Int32 { id >= 0 && Int(id) < userIndexByID.count ? userIndexByID[Int(id)] : -1 }
    @inline(__always) public func itemIndex(_ id: Int32) -> Int32 { id >= 0 && Int(id) < itemIndexByID.count ? itemIndexByID[Int(id)] : -1 }

    public static func fit(_ algorithm: Algorithm, data: RatingData, svd: SVDParameters = .init(), knn: KNNParameters = .init(),
                           seed: UInt64 = 0, scale: RatingScale = .init()) -> TrainedModel {
        let kind: Kind
        switch algorithm {
        case .normal: kind = .normal(NormalModel.fit(data, seed: seed))
        case .svd:
            var parameters = svd
            parameters.seed = svd.seed == 0 ? seed : svd.seed
            kind = .svd(SVDModel.fit(data, parameters: parameters))
        case .knn: kind = .knn(KNNModel.fit(data, parameters: knn))
        }
        return TrainedModel(kind: kind, userIDs: data.userIDs, itemIDs: data.itemIDs, scale: scale, globalMean: Float(data.globalMean))
    }

    public struct Prediction: Sendable { public var estimate: Float; public var wasImpossible: Bool }

    /// Clipped predictions for many (user, item) pairs in raw ids. KNN work is grouped by
    /// column so each column's raters are laid out once; the answer keeps the input order.
    public func predict(_ pairs: [TestRating], seed: UInt64 = 0) -> [Prediction] {
        var out = [Prediction](repeating: Prediction(estimate: globalMean, wasImpossible: false), count: pairs.count)
        switch kind {
        case .normal(let model):
            var random = SeededGenerator(seed: seed ^ model.seed)
            for index in pairs.indices { out[index].estimate = scale.clip(model.draw(&random)) }
        case .svd(let model):
            for (index, pair) in pairs.enumerated() {
                out[index].estimate = scale.clip(model.estimate(user: userIndex(pair.user), item: itemIndex(pair.item)))
            }
        case .knn(let model):
            // Rows and columns of the similarity model: users and items, or the other way round.
            var byColumn: [(column: Int32, position: Int)] = []
            byColumn.reserveCapacity(pairs.count)
            for (position, pair) in pairs.enumerated() {
                let (row, column) = model.userBased ? (userIndex(pair.user), itemIndex(pair.item)) : (itemIndex(pair.item), userIndex(pair.user))
                if row < 0 || column < 0 { out[position] = Prediction(estimate: scale.clip(globalMean), wasImpossible: true); continue }
                byColumn.append((column, position))
            }
            byColumn.sort { $0.column < $1.column }
            let rows = model.offsets.count - 1
            var ratingOf = [Float](repeating: 0, count: rows)
            var start = 0
            ratingOf.withUnsafeMutableBufferPointer { scratch in
                while start < byColumn.count {
                    let column = Int(byColumn[start].column)
                    var end = start
                    while end < byColumn.count && Int(byColumn[end].column) == column { end += 1 }
                    let raters = model.columnOffsets[column]..<model.columnOffsets[column + 1]
                    for index in raters { scratch[Int(model.columnRows[index])] = model.columnRatings[index] + 1 }
                    for entry in byColumn[start..<end] {
                        let pair = pairs[entry.position]
                        let row = Int(model.userBased ? userIndex(pair.user) : itemIndex(pair.item))
                        let (estimate, impossible) = model.estimate(row: row, ratingOf: UnsafePointer(scratch.baseAddress!))
                        out[entry.position] = Prediction(estimate: scale.clip(estimate), wasImpossible: impossible)
                    }
                    for index in raters { scratch[Int(model.columnRows[index])] = 0 }
                    start = end
                }
            }
        }
        return out
    }

    /// Scores of every item (by inner index) for one user, for ranking; nil for a user the model does not know.
    public func scoreAllItems(user id: Int32, seed: UInt64 = 0) -> [Float]? {
        let user = userIndex(id)
        guard user >= 0 else { return nil }
        var scores = [Float](repeating: 0, count: itemIDs.count)
        switch kind {
        case .normal(let model):
            var random = SeededGenerator(seed: seed ^ UInt64(id))
            for index in scores.indices { scores[index] = scale.clip(model.draw(&random)) }
        case .svd(let model):
            for item in scores.indices { scores[item] = scale.clip(model.estimate(user: user, item: Int32(item))) }
        case .knn(let model):
            if model.userBased {
                // Walk the user's neighbours best first; each item takes its first k raters among them.
                var found = [Int32](repeating: 0, count: itemIDs.count)
                var sums = [Float](repeating: 0, count: itemIDs.count), weights = [Float](repeating: 0, count: itemIDs.count)
                let userRatings = model.ratingsByRow
                for index in model.offsets[Int(user)]..<model.offsets[Int(user) + 1] {
                    let neighbour = Int(model.neighbours[index]), similarity = model.similarities[index]
                    for entry in userRatings.offsets[neighbour]..<userRatings.offsets[neighbour + 1] {
                        let item = Int(userRatings.columns[entry])
                        guard found[item] < model.parameters.k else { continue }
                        found[item] += 1
                        sums[item] += similarity * userRatings.values[entry]
                        weights[item] += similarity
                    }
                }
                for item in scores.indices {
                    scores[item] = scale.clip(found[item] >= model.parameters.minK && weights[item] > 0 ? sums[item] / weights[item] : globalMean)
                }
            } else {
                // Item-based: the user's own ratings are the neighbours' ratings.
                let rows = model.offsets.count - 1
                var ratingOf = [Float](repeating: 0, count: rows)
                for index in model.columnOffsets[Int(user)]..<model.columnOffsets[Int(user) + 1] {
                    ratingOf[Int(model.columnRows[index])] = model.columnRatings[index] + 1
                }
                ratingOf.withUnsafeBufferPointer { scratch in
                    for item in scores.indices {
                        scores[item] = scale.clip(model.estimate(row: item, ratingOf: scratch.baseAddress!).0)
                    }
                }
            }
        }
        return scores
    }
}
