/// The per-rating features drift is watched on, and a window's distribution of each.
public enum FeatureKind: String, Codable, Sendable { case numerical, categorical }

public struct FeatureDistribution: Codable, Sendable, Equatable {
    public var name: String
    public var kind: FeatureKind
    /// Numerical: sorted distinct values. Categorical: category labels.
    public var values: [Double]
    public var labels: [String]
    public var counts: [Double]

    public var total: Double { counts.reduce(0, +) }

    public var sample: WeightedSample { WeightedSample(values: values, counts: counts) }

    /// Counts by label (categorical).
    public var byLabel: [String: Double] { Dictionary(uniqueKeysWithValues: zip(labels, counts)) }
}

/// The window a distribution was taken over.
public struct WindowSpec: Codable, Sendable, Equatable {
    /// Epoch seconds, inclusive; nil: unbounded.
    public var from: Int64?
    public var to: Int64?
    /// The most recent N ratings of the range instead of all of it.
    public var lastRatings: Int?

    enum CodingKeys: String, CodingKey { case from, to, lastRatings = "last_ratings" }

    public init(from: Int64? = nil, to: Int64? = nil, lastRatings: Int? = nil) {
        self.from = from; self.to = to; self.lastRatings = lastRatings
    }
}

/// Movie popularity and user activity as they stood when the baseline was taken (ratings per
/// movie and per user, by id). Both windows are measured against the same frozen numbers, so
/// the features say "are today's ratings on the same mix of movies and users", not "have the
/// counters grown": new ratings must not look like drift merely by adding to the counts.
public struct FeatureLookups: Sendable, Equatable {
    public var popularity: IDCounts
    public var activity: IDCounts

    public init(popularity: IDCounts, activity: IDCounts) {
        self.popularity = popularity
        self.activity = activity
    }

    public static func current(_ database: Database) throws(FunctionError) -> FeatureLookups {
        func counts(_ sql: String) throws(FunctionError) -> IDCounts {
            let rows = try database.execute(sql)
            var result = IDCounts()
            for index in 0..<rows.count {
                let id = rows.int(index, 0) ?? 0
                guard id >= 0 && id < Int(IDSet.maximumID) else { continue }
                result.set(id, Int32(clamping: rows.int(index, 1) ?? 0))
            }
            return result
        }
        return FeatureLookups(popularity: try counts("SELECT movie_id, count FROM movie_stats"),
                              activity: try counts("SELECT user_id, count FROM user_stats"))
    }

    /// PostgreSQL bytea hex literals of the two tables.
    var encoded: (String, String) { (popularity.hex, activity.hex) }
}

/// A count per id. MovieLens ids are small and dense, so ids below `denseLimit` live in an
/// array the feature loop indexes directly; a few huge ids (POST /ratings accepts any id up to
/// IDSet.maximumID) go to a dictionary instead of growing the array to gigabytes.
public struct IDCounts: Sendable, Equatable {
    static let denseLimit = 1 << 22
    private(set) var dense: [Int32] = []
    private(set) var sparse: [Int: Int32] = [:]

    public init() {}

    public init(_ values: [Int32]) {
        for (id, value) in values.enumerated() where value != 0 { set(id, value) }
    }

    @inline(__always)
    public subscript(id: Int) -> Int32 {
        if id < dense.count { return id >= 0 ? dense[id] : 0 }
        return id >= Self.denseLimit ? sparse[id] ?? 0 : 0
    }

    /// The largest count held (0 when empty).
    var maximum: Int32 { max(dense.max() ?? 0, sparse.values.max() ?? 0) }

    mutating func set(_ id: Int, _ value: Int32) {
        if id >= Self.denseLimit {
            sparse[id] = value
            return
        }
        if id >= dense.count { dense += [Int32](repeating: 0, count: id + 1 - dense.count) }
        dense[id] = value
    }

    /// Stored as little-endian Int32 words: a first word of -1 marks (id, count) pairs of the
    /// non-zero entries; older baselines hold the dense array itself (a count is never -1).
    var hex: String {
        var words: [Int32] = [-1]
        for (id, value) in dense.enumerated() where value != 0 { words += [Int32(id), value] }
        for (id, value) in sparse.sorted(by: { $0.key < $1.key }) where value != 0 { words += [Int32(clamping: id), value] }
        return Self.hex(words)
    }

    static func decode(_ text: String?) -> IDCounts {
        let words = decodeWords(text)
        guard words.first == -1 else { return IDCounts(words) }
        var result = IDCounts()
        var index = 1
        while index + 1 < words.count {
            result.set(Int(words[index]), words[index + 1])
            index += 2
        }
        return result
    }

    static func hex(_ values: [Int32]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        bytes.reserveCapacity(2 + values.count * 8)
        for value in values {
            withUnsafeBytes(of: value.littleEndian) { for byte in $0 { bytes.append(digits[Int(byte >> 4)]); bytes.append(digits[Int(byte & 15)]) } }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func decodeWords(_ text: String?) -> [Int32] {
        guard let text, text.hasPrefix("\\x") else { return [] }
        let utf8 = Array(text.utf8.dropFirst(2))
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
        var values = [Int32](repeating: 0, count: utf8.count / 8)
        for index in values.indices {
            var word: UInt32 = 0
            for byte in 0..<4 {
                let b = nibble(utf8[index * 8 + byte * 2]) << 4 | nibble(utf8[index * 8 + byte * 2 + 1])
                word |= UInt32(b) << (8 * UInt32(byte))
            }
            values[index] = Int32(bitPattern: word)
        }
        return values
    }
}

/// Reads a window's ratings once (binary COPY through the timestamp index) and counts every
/// feature in one pass, with per-movie and per-user totals and genres held in flat arrays.
public enum FeatureExtractor {
    public static let featureNames = ["rating", "hour_of_day", "day_of_week", "genre", "movie_popularity", "user_activity"]
    static let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    public static func distributions(_ window: WindowSpec, lookups: FeatureLookups, database: Database) throws(FunctionError) -> (rows: Int, features: [FeatureDistribution]) {
        let popularity = lookups.popularity, activity = lookups.activity
        let genreRows = try database.execute("SELECT genre_id, name FROM genres ORDER BY genre_id")
        var genreNames: [Int: String] = [:]
        for index in 0..<genreRows.count { genreNames[genreRows.int(index, 0) ?? 0] = genreRows.string(index, 1) ?? "" }
        let genreCount = (genreNames.keys.max() ?? 0) + 1
        var movieGenreOffsets: [Int32] = [], movieGenres: [Int16] = []
        let links = try database.execute("SELECT movie_id, genre_id FROM movie_genres ORDER BY movie_id, genre_id")
        var perMovie: [Int: [Int16]] = [:]
        for index in 0..<links.count { perMovie[links.int(index, 0) ?? 0, default: []].append(Int16(links.int(index, 1) ?? 0)) }
        let maxMovie = max(perMovie.keys.max() ?? 0, 0)
        movieGenreOffsets = [Int32](repeating: 0, count: maxMovie + 2)
        for movie in 0...max(maxMovie, 0) {
            let list = perMovie[movie] ?? []
            movieGenreOffsets[movie + 1] = movieGenreOffsets[movie] + Int32(list.count)
            movieGenres += list
        }

        var ratingCounts = [Double](repeating: 0, count: 11)  // half stars 0...10
        var hourCounts = [Double](repeating: 0, count: 24), dayCounts = [Double](repeating: 0, count: 7)
        var genreCounts = [Double](repeating: 0, count: genreCount)
        var popularityCounts = ValueHistogram(maximum: popularity.maximum), activityCounts = ValueHistogram(maximum: activity.maximum)
        var rows = 0

        var conditions: [String] = []
        if let from = window.from { conditions.append("\"timestamp\" >= \(from)") }
        if let to = window.to { conditions.append("\"timestamp\" <= \(to)") }
        // Integers formatted by Swift, never text from the request: COPY takes no parameters.
        var query = "SELECT user_id, movie_id, rating, \"timestamp\" FROM ratings"
        if !conditions.isEmpty { query += " WHERE " + conditions.joined(separator: " AND ") }
        if let last = window.lastRatings { query += " ORDER BY \"timestamp\" DESC LIMIT \(last)" }
        var headerSeen = false
        try database.copyOut("COPY (\(query)) TO STDOUT WITH (FORMAT binary)") { chunk throws(FunctionError) in
            var offset = 0
            if !headerSeen {
                let extensionLength = Int(UInt32(bigEndian: chunk.loadUnaligned(fromByteOffset: 15, as: UInt32.self)))
                offset = 19 + extensionLength
                headerSeen = true
            }
            guard chunk.count - offset >= 2, Int16(bigEndian: chunk.loadUnaligned(fromByteOffset: offset, as: Int16.self)) == 4 else { return }
            let user = Int(Int32(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 6, as: Int32.self)))
            let movie = Int(Int32(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 14, as: Int32.self)))
            let rating = Float(bitPattern: UInt32(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 22, as: UInt32.self)))
            let timestamp = Int64(bigEndian: chunk.loadUnaligned(fromByteOffset: offset + 30, as: Int64.self))
            rows += 1
            ratingCounts[min(10, max(0, Int((rating * 2).rounded())))] += 1
            let secondOfDay = ((timestamp % 86_400) + 86_400) % 86_400
            hourCounts[Int(secondOfDay / 3600)] += 1
            let day = Int(((timestamp - secondOfDay) / 86_400 % 7 + 7 + 3) % 7)  // 1970-01-01 was a Thursday; Monday = 0
            dayCounts[day] += 1
            if movie + 1 < movieGenreOffsets.count {
                for index in Int(movieGenreOffsets[movie])..<Int(movieGenreOffsets[movie + 1]) { genreCounts[Int(movieGenres[index])] += 1 }
            }
            popularityCounts.add(popularity[movie])
            activityCounts.add(activity[user])
        }

        func numerical(_ name: String, _ histogram: ValueHistogram) -> FeatureDistribution {
            let pairs = histogram.nonZero
            return FeatureDistribution(name: name, kind: .numerical, values: pairs.map { Double($0.value) }, labels: [], counts: pairs.map(\.count))
        }
        func categorical(_ name: String, labels: [String], counts: [Double]) -> FeatureDistribution {
            let kept = zip(labels, counts).filter { $0.1 > 0 }
            return FeatureDistribution(name: name, kind: .categorical, values: [], labels: kept.map(\.0), counts: kept.map(\.1))
        }
        let ratingValues = (0...10).filter { ratingCounts[$0] > 0 }
        let features = [
            FeatureDistribution(name: "rating", kind: .numerical, values: ratingValues.map { Double($0) / 2 }, labels: [], counts: ratingValues.map { ratingCounts[$0] }),
            categorical("hour_of_day", labels: (0..<24).map { String(format2($0)) }, counts: hourCounts),
            categorical("day_of_week", labels: weekdays, counts: dayCounts),
            categorical("genre", labels: (0..<genreCount).map { genreNames[$0] ?? "genre \($0)" }, counts: genreCounts),
            numerical("movie_popularity", popularityCounts),
            numerical("user_activity", activityCounts),
        ]
        return (rows, features)
    }

    static func format2(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
}

/// How often each count occurs in a window (the movie-popularity and user-activity features).
/// Counts up to the largest in the lookups live in an array the feature loop indexes directly,
/// one increment per rating and no hashing; anything outside it goes to a dictionary.
struct ValueHistogram {
    static let denseLimit: Int32 = 1 << 24
    private var dense: [Double]
    private var overflow: [Int32: Double] = [:]

    init(maximum: Int32) {
        dense = [Double](repeating: 0, count: Int(min(max(maximum, 0), Self.denseLimit)) + 1)
    }

    @inline(__always)
    mutating func add(_ value: Int32) {
        if value >= 0 && Int(value) < dense.count { dense[Int(value)] += 1 } else { overflow[value, default: 0] += 1 }
    }

    /// The values seen, in increasing order, with how often each was seen.
    var nonZero: [(value: Int32, count: Double)] {
        var pairs: [(value: Int32, count: Double)] = []
        for (value, count) in dense.enumerated() where count > 0 { pairs.append((Int32(value), count)) }
        pairs += overflow.map { (value: $0.key, count: $0.value) }
        return pairs.sorted { $0.value < $1.value }
    }
}
