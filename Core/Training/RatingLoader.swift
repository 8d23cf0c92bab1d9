/// Reads every rating out of PostgreSQL with binary `COPY ... TO STDOUT` (no sampling, no
/// per-row query), computing the data fingerprint on the way.
public struct DataFingerprint: Codable, Sendable, Equatable {
    public var ratings: Int
    public var users: Int
    public var movies: Int
    public var maxTimestamp: Int64
    /// Order-independent: the same ratings give the same hash however the table is stored.
    public var hash: String

    enum CodingKeys: String, CodingKey { case ratings, users, movies, hash, maxTimestamp = "max_timestamp" }
}

public enum RatingLoader {
    public static func load(_ database: Database) throws(FunctionError) -> (RatingData, DataFingerprint) {
        let estimate = try database.execute("SELECT count FROM rating_totals").int(0, 0) ?? 0
        var builder = RatingData.Builder(capacity: estimate)
        var headerSeen = false
        var maxTimestamp: Int64 = 0
        var hash: UInt64 = 0
        try database.copyOut("COPY (SELECT user_id, movie_id, rating, \"timestamp\" FROM ratings) TO STDOUT WITH (FORMAT binary)") { chunk throws(FunctionError) in
            var offset = 0
            if !headerSeen {  // "PGCOPY\n\377\r\n\0", flags, header extension
                guard chunk.count >= 19 else { throw FunctionError.internal("short COPY header") }
                let extensionLength = Int(UInt32(bigEndian: chunk.loadUnaligned(fromByteOffset: 15, as: UInt32.self)))
                offset = 19 + extensionLength
                headerSeen = true
            }
            guard chunk.count - offset >= 2 else { return }
            let fields = Int16(bigEndian: chunk.loadUnaligned(fromByteOffset: offset, as: Int16.self))
            if fields == -1 { return }  // trailer
            guard fields == 4, chunk.count - offset >= 2 + 4 * 4 + 4 + 4 + 4 + 8 else { throw FunctionError.internal("unexpected COPY row layout") }
            let user = Int32(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 6, as: Int32.self))
            let movie = Int32(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 14, as: Int32.self))
            let ratingBits = UInt32(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 22, as: UInt32.self))
            let timestamp = Int64(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 30, as: Int64.self))
            builder.append(user: user, item: movie, rating: Float(bitPattern: ratingBits), timestamp: timestamp)
            maxTimestamp = max(maxTimestamp, timestamp)
            var mix = UInt64(UInt32(bitPattern: user)) << 32 | UInt64(UInt32(bitPattern: movie))
            mix ^= UInt64(ratingBits) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: timestamp) &* 0xC2B2_AE3D_27D4_EB4F
            mix = (mix ^ (mix >> 31)) &* 0xBF58_476D_1CE4_E5B9
            hash &+= mix ^ (mix >> 29)
        }
        let data = builder.build()
        let hex = String(hash, radix: 16)
        return (data, DataFingerprint(ratings: data.count, users: data.userCount, movies: data.itemCount, maxTimestamp: maxTimestamp,
                                      hash: String(repeating: "0", count: 16 - hex.count) + hex))
    }

    /// Keeps users and movies with enough ratings (one pass each way), then an optional seeded sample.
    public static func filter(_ data: RatingData, minUserRatings: Int, minMovieRatings: Int, sampleSize: Int?, seed: UInt64) -> RatingData {
        if minUserRatings <= 1 && minMovieRatings <= 1 && (sampleSize ?? Int.max) >= data.count { return data }
        var itemCounts = [Int](repeating: 0, count: data.itemCount)
        for item in data.items { itemCounts[Int(item)] += 1 }
        var keep: [Int] = []
        keep.reserveCapacity(data.count)
        for user in 0..<data.userCount where data.userOffsets[user + 1] - data.userOffsets[user] >= minUserRatings {
            for position in data.userOffsets[user]..<data.userOffsets[user + 1] where itemCounts[Int(data.items[position])] >= minMovieRatings {
                keep.append(position)
            }
        }
        if let sampleSize, sampleSize < keep.count {
            var random = SeededGenerator(seed: seed ^ 0x5A)
            for index in 0..<sampleSize { keep.swapAt(index, index + random.below(keep.count - index)) }
            keep.removeLast(keep.count - sampleSize)
            keep.sort()
        }
        return data.subset(keep)
    }
}
