#if canImport(Glibc)
import Glibc
#endif

/// Ratings in the layout training wants: dense inner indices for users and items, stored
/// user by user (CSR) with an item-by-item view (CSC) built on demand. Raw MovieLens ids map
/// to inner indices through flat arrays, never dictionaries, so hot loops do no hashing.
public struct RatingData: Sendable {
    /// Raw ids by inner index.
    public private(set) var userIDs: [Int32] = []
    public private(set) var itemIDs: [Int32] = []
    /// CSR by user: the ratings of user u are `userOffsets[u] ..< userOffsets[u + 1]`.
    public private(set) var userOffsets: [Int] = [0]
    public private(set) var items: [Int32] = []
    public private(set) var ratings: [Float] = []
    public private(set) var timestamps: [Int64] = []
    public var count: Int { ratings.count }
    public var userCount: Int { userIDs.count }
    public var itemCount: Int { itemIDs.count }
    public private(set) var globalMean: Double = 0

    private var userIndexByID: [Int32] = []
    private var itemIndexByID: [Int32] = []

    public init() {}

    /// Builds from parallel arrays of raw ids (any order); users keep their first-seen order.
    public init(users: [Int32], items rawItems: [Int32], ratings values: [Float], timestamps times: [Int64]? = nil) {
        precondition(users.count == rawItems.count && users.count == values.count)
        var builder = Builder()
        for index in 0..<users.count {
            builder.append(user: users[index], item: rawItems[index], rating: values[index], timestamp: times?[index] ?? 0)
        }
        self = builder.build()
    }

    public func userIndex(_ id: Int32) -> Int32 {
        id >= 0 && Int(id) < userIndexByID.count ? userIndexByID[Int(id)] : -1
    }

    public func itemIndex(_ id: Int32) -> Int32 {
        id >= 0 && Int(id) < itemIndexByID.count ? itemIndexByID[Int(id)] : -1
    }

    /// The ratings of each item, as (user, rating) lists: `itemOffsets[i] ..< itemOffsets[i + 1]`.
    public func byItem() -> (offsets: [Int], users: [Int32], ratings: [Float]) {
        var offsets = [Int](repeating: 0, count: itemCount + 1)
        for item in items { offsets[Int(item) + 1] += 1 }
        for index in 0..<itemCount { offsets[index + 1] += offsets[index] }
        var cursor = offsets
        var users = [Int32](repeating: 0, count: count)
        var values = [Float](repeating: 0, count: count)
        for user in 0..<userCount {
            for index in userOffsets[user]..<userOffsets[user + 1] {
                let item = Int(items[index])
                users[cursor[item]] = Int32(user)
                values[cursor[item]] = ratings[index]
                cursor[item] += 1
            }
        }
        return (offsets, users, values)
    }

    /// A new data set of the ratings at the given CSR positions (a training fold), with its own
    /// inner indices; timestamps are not carried (training does not use them).
    public func subset(_ positions: [Int]) -> RatingData {
        var builder = Builder(capacity: positions.count, keepTimestamps: false)
        var user = 0
        for position in positions {  // ascending (callers pass CSR order)
            while userOffsets[user + 1] <= position { user += 1 }
            builder.append(user: userIDs[user], item: itemIDs[Int(items[position])], rating: ratings[position], timestamp: 0)
        }
        return builder.build()
    }

    /// Accumulates ratings in any order, then lays them out.
    public struct Builder {
        var users: [Int32] = []
        var items: [Int32] = []
        var ratings: [Float] = []
        var timestamps: [Int64] = []

        let keepTimestamps: Bool

        public init(capacity: Int = 0, keepTimestamps: Bool = true) {
            self.keepTimestamps = keepTimestamps
            users.reserveCapacity(capacity); items.reserveCapacity(capacity); ratings.reserveCapacity(capacity)
            if keepTimestamps { timestamps.reserveCapacity(capacity) }
        }

        public mutating func append(user: Int32, item: Int32, rating: Float, timestamp: Int64) {
            users.append(user); items.append(item); ratings.append(rating)
            if keepTimestamps { timestamps.append(timestamp) }
        }

        public var count: Int { ratings.count }

        public func build() -> RatingData {
            var data = RatingData()
            let maxUser = Int(users.max() ?? 0), maxItem = Int(items.max() ?? 0)
            data.userIndexByID = [Int32](repeating: -1, count: maxUser + 1)
            data.itemIndexByID = [Int32](repeating: -1, count: maxItem + 1)
            var userOf = [Int32](repeating: 0, count: users.count)
            var perUser: [Int] = []
            for index in 0..<users.count {
                let raw = Int(users[index])
                var inner = data.userIndexByID[raw]
                if inner < 0 {
                    inner = Int32(data.userIDs.count)
                    data.userIndexByID[raw] = inner
                    data.userIDs.append(users[index])
                    perUser.append(0)
                }
                userOf[index] = inner
                perUser[Int(inner)] += 1
                let rawItem = Int(items[index])
                if data.itemIndexByID[rawItem] < 0 {
                    data.itemIndexByID[rawItem] = Int32(data.itemIDs.count)
                    data.itemIDs.append(items[index])
                }
            }
            var offsets = [Int](repeating: 0, count: data.userIDs.count + 1)
            for user in 0..<perUser.count { offsets[user + 1] = offsets[user] + perUser[user] }
            var cursor = offsets
            var layoutItems = [Int32](repeating: 0, count: users.count)
            var layoutRatings = [Float](repeating: 0, count: users.count)
            var layoutTimes = [Int64](repeating: 0, count: keepTimestamps ? users.count : 0)
            var sum = 0.0
            for index in 0..<users.count {
                let user = Int(userOf[index])
                let slot = cursor[user]
                cursor[user] += 1
                layoutItems[slot] = data.itemIndexByID[Int(items[index])]
                layoutRatings[slot] = ratings[index]
                if keepTimestamps { layoutTimes[slot] = timestamps[index] }
                sum += Double(ratings[index])
            }
            data.userOffsets = offsets
            data.items = layoutItems
            data.ratings = layoutRatings
            data.timestamps = layoutTimes
            data.globalMean = users.isEmpty ? 0 : sum / Double(users.count)
            return data
        }
    }
}

/// One rating to predict in evaluation, in raw ids.
public struct TestRating: Sendable {
    public var user: Int32
    public var item: Int32
    public var rating: Float
    public var timestamp: Int64

    public init(user: Int32, item: Int32, rating: Float, timestamp: Int64 = 0) {
        self.user = user; self.item = item; self.rating = rating; self.timestamp = timestamp
    }
}
