/// The model artifact: a versioned binary layout that predict can memory-map, never a
/// language-specific pickle. Little-endian, every section 64-byte aligned:
///
///     0   magic "MRECMDL1" (8) | format version u32 | algorithm u32 | section count u32 | reserved u32
///    24   payload length u64 | payload checksum u64 (ContentHash of every byte after the header)
///    64   section table: count × (tag [8 ASCII], offset u64, byte length u64, element size u32, reserved u32)
///   ...   sections ("META" JSON, "UIDS"/"IIDS" raw ids, then the algorithm's arrays)
public enum ModelFile {
    public static let magic = Array("MRECMDL1".utf8)
    public static let formatVersion: UInt32 = 1
    static let headerSize = 64

    struct Section { var tag: String; var bytes: Data; var elementSize: Int }

    /// Ranking for users the model cannot score: damped popularity, computed at training time.
    public struct Popularity: Codable, Sendable, Equatable {
        public var items: [Int32]
        public var scores: [Float]
        public var minimumCount: Int
        public var damping: Double

        /// (count·mean)/(count + damping) over items with at least `minimumCount` ratings, best first.
        public static func compute(_ data: RatingData, minimumCount: Int = 10, damping: Double = 100) -> Popularity {
            var counts = [Int](repeating: 0, count: data.itemCount), sums = [Double](repeating: 0, count: data.itemCount)
            for (index, item) in data.items.enumerated() { counts[Int(item)] += 1; sums[Int(item)] += Double(data.ratings[index]) }
            var ranked: [(Int32, Float)] = []
            for item in 0..<data.itemCount where counts[item] >= minimumCount {
                let mean = sums[item] / Double(counts[item])
                ranked.append((data.itemIDs[item], Float(Double(counts[item]) * mean / (Double(counts[item]) + damping))))
            }
            ranked.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            return Popularity(items: ranked.map(\.0), scores: ranked.map(\.1), minimumCount: minimumCount, damping: damping)
        }
    }

    public struct Metadata: Codable, Sendable {
        public var algorithm: Algorithm
        public var variant: String?
        public var globalMean: Float
        public var scale: RatingScale
        public var svd: SVDParameters?
        public var knn: KNNParameters?
        public var knnUserBased: Bool?
        public var knnExact: Bool?
        public var normalDeviation: Float?
        public var normalSeed: UInt64?
        public var svdStride: Int?
        public var popularityMinimumCount: Int
        public var popularityDamping: Double
        public var trainedRatings: Int
        public var extra: [String: JSONValue]

        enum CodingKeys: String, CodingKey {
            case algorithm, variant, scale, svd, knn, extra
            case globalMean = "global_mean", knnUserBased = "knn_user_based", knnExact = "knn_exact"
            case normalDeviation = "normal_deviation", normalSeed = "normal_seed", svdStride = "svd_stride"
            case popularityMinimumCount = "popularity_minimum_count", popularityDamping = "popularity_damping"
            case trainedRatings = "trained_ratings"
        }
    }

    public static func encode(_ model: TrainedModel, popularity: Popularity, trainedRatings: Int, extra: [String: JSONValue] = [:]) throws(FunctionError) -> Data {
        var metadata = Metadata(algorithm: model.algorithm, variant: model.variant, globalMean: model.globalMean, scale: model.scale,
                                popularityMinimumCount: popularity.minimumCount, popularityDamping: popularity.damping,
                                trainedRatings: trainedRatings, extra: extra)
        var sections: [Section] = [array("UIDS", model.userIDs), array("IIDS", model.itemIDs),
                                   array("POPI", popularity.items), array("POPS", popularity.scores)]
        switch model.kind {
        case .normal(let normal):
            metadata.normalDeviation = normal.deviation
            metadata.normalSeed = normal.seed
        case .svd(let svd):
            metadata.svd = svd.parameters
            metadata.svdStride = svd.stride
            sections += [array("UBIA", svd.userBias), array("IBIA", svd.itemBias), array("UFAC", svd.userFactors), array("IFAC", svd.itemFactors)]
        case .knn(let knn):
            metadata.knn = knn.parameters
            metadata.knnUserBased = knn.userBased
            metadata.knnExact = knn.exact
            sections += [array("NOFF", knn.offsets.map(Int64.init)), array("NBRS", knn.neighbours), array("NSIM", knn.similarities),
                         array("COFF", knn.columnOffsets.map(Int64.init)), array("CROW", knn.columnRows), array("CRAT", knn.columnRatings),
                         array("ROFF", knn.ratingsByRow.offsets.map(Int64.init)), array("RCOL", knn.ratingsByRow.columns),
                         array("RVAL", knn.ratingsByRow.values)]
        }
        let meta: Data
        do { meta = try JSON.encode(metadata) } catch { throw .internal("cannot encode model metadata: \(error)") }
        sections.insert(Section(tag: "META", bytes: meta, elementSize: 1), at: 0)

        var offset = align(headerSize + sections.count * 32)
        var table = Data()
        var body = Data()
        let bodyStart = offset
        for section in sections {
            var tag = Array(section.tag.utf8.prefix(8)); tag += [UInt8](repeating: 0, count: 8 - tag.count)
            table.append(contentsOf: tag)
            append(&table, UInt64(offset)); append(&table, UInt64(section.bytes.count))
            append(&table, UInt32(section.elementSize)); append(&table, UInt32(0))
            body.append(section.bytes)
            let padded = align(offset + section.bytes.count)
            body.append(Data(count: padded - offset - section.bytes.count))
            offset = padded
        }
        var file = Data(magic)
        append(&file, formatVersion); append(&file, algorithmCode(model.algorithm)); append(&file, UInt32(sections.count)); append(&file, UInt32(0))
        var payload = table
        payload.append(Data(count: bodyStart - headerSize - table.count))
        payload.append(body)
        var hash = ContentHash()
        payload.withUnsafeBytes { hash.update($0) }
        append(&file, UInt64(payload.count))
        append(&file, hashValue(hash))
        file.append(Data(count: headerSize - file.count))
        file.append(payload)
        return file
    }

    /// Reads and verifies a model file: magic, version, length and checksum, then every section.
    public static func decode(_ file: Data) throws(FunctionError) -> (TrainedModel, Popularity, Metadata) {
        func corrupt(_ why: String) -> FunctionError { FunctionError.dependencyDown("model artifact is corrupt: \(why)") }
        guard file.count >= headerSize, Array(file.prefix(8)) == magic else { throw corrupt("not a MovieRec model file") }
        let version: UInt32 = read(file, 8), sectionCount = Int(read(file, 16) as UInt32)
        guard version == formatVersion else { throw corrupt("format version \(version); this build reads \(formatVersion)") }
        let length = Int(read(file, 24) as UInt64), checksum: UInt64 = read(file, 32)
        guard file.count == headerSize + length else { throw corrupt("\(file.count) bytes, the header says \(headerSize + length)") }
        var hash = ContentHash()
        file.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[headerSize...])) }
        guard hashValue(hash) == checksum else { throw corrupt("checksum mismatch") }
        guard sectionCount < 64, headerSize + sectionCount * 32 <= file.count else { throw corrupt("bad section table") }
        var sections: [String: Data] = [:]
        for index in 0..<sectionCount {
            let base = headerSize + index * 32
            let tag = String(decoding: file[base..<base + 8].prefix { $0 != 0 }, as: UTF8.self)
            let offset = Int(read(file, base + 8) as UInt64), count = Int(read(file, base + 16) as UInt64)
            guard offset >= headerSize, count >= 0, offset + count <= file.count else { throw corrupt("section \(tag) out of bounds") }
            sections[tag] = file.subdata(in: offset..<offset + count)
        }
        func need(_ tag: String) throws(FunctionError) -> Data {
            guard let data = sections[tag] else { throw corrupt("missing section \(tag)") }
            return data
        }
        let metadata: Metadata
        do { metadata = try JSONDecoder().decode(Metadata.self, from: try need("META")) } catch { throw corrupt("unreadable metadata") }
        let userIDs: [Int32] = values(try need("UIDS")), itemIDs: [Int32] = values(try need("IIDS"))
        let popularity = Popularity(items: values(try need("POPI")), scores: values(try need("POPS")),
                                    minimumCount: metadata.popularityMinimumCount, damping: metadata.popularityDamping)
        let kind: TrainedModel.Kind
        switch metadata.algorithm {
        case .normal:
            kind = .normal(NormalModel(mean: metadata.globalMean, deviation: metadata.normalDeviation ?? 0, seed: metadata.normalSeed ?? 0))
        case .svd:
            guard let parameters = metadata.svd, let stride = metadata.svdStride else { throw corrupt("SVD metadata incomplete") }
            let model = SVDModel(parameters: parameters, globalMean: metadata.globalMean, stride: stride,
                                 userBias: values(try need("UBIA")), itemBias: values(try need("IBIA")),
                                 userFactors: values(try need("UFAC")), itemFactors: values(try need("IFAC")))
            guard model.userBias.count == userIDs.count, model.itemBias.count == itemIDs.count,
                  model.userFactors.count == userIDs.count * stride, model.itemFactors.count == itemIDs.count * stride else {
                throw corrupt("SVD arrays do not match the id lists")
            }
            kind = .svd(model)
        case .knn:
            guard let parameters = metadata.knn else { throw corrupt("KNN metadata incomplete") }
            let offsets: [Int64] = values(try need("NOFF")), columnOffsets: [Int64] = values(try need("COFF")), rowOffsets: [Int64] = values(try need("ROFF"))
            kind = .knn(KNNModel(parameters: parameters, userBased: metadata.knnUserBased ?? true, exact: metadata.knnExact ?? false,
                                 globalMean: metadata.globalMean, offsets: offsets.map(Int.init), neighbours: values(try need("NBRS")),
                                 similarities: values(try need("NSIM")), columnOffsets: columnOffsets.map(Int.init),
                                 columnRows: values(try need("CROW")), columnRatings: values(try need("CRAT")),
                                 ratingsByRow: .init(offsets: rowOffsets.map(Int.init), columns: values(try need("RCOL")), values: values(try need("RVAL")))))
        }
        return (TrainedModel(kind: kind, userIDs: userIDs, itemIDs: itemIDs, scale: metadata.scale, globalMean: metadata.globalMean), popularity, metadata)
    }

    // MARK: bytes

    static func array<T: BitwiseCopyable>(_ tag: String, _ values: [T]) -> Section {
        Section(tag: tag, bytes: values.withUnsafeBytes { Data($0) }, elementSize: MemoryLayout<T>.stride)
    }

    static func values<T: BitwiseCopyable>(_ data: Data) -> [T] {
        let count = data.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { raw in UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: count * MemoryLayout<T>.stride) }
            initialized = count
        }
    }

    static func append<T: FixedWidthInteger>(_ data: inout Data, _ value: T) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    static func read<T: FixedWidthInteger>(_ data: Data, _ offset: Int) -> T {
        data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
    static func align(_ value: Int) -> Int { (value + 63) / 64 * 64 }
    static func algorithmCode(_ algorithm: Algorithm) -> UInt32 {
        switch algorithm { case .normal: return 1; case .svd: return 2; case .knn: return 3 }
    }
    static func hashValue(_ hash: ContentHash) -> UInt64 { UInt64(hash.hex, radix: 16) ?? 0 }
}
