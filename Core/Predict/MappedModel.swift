#if canImport(Glibc)
import Glibc
#endif

/// A model file mapped into memory and read in place: nothing is copied, so a cold start
/// costs the page faults of what it touches, not the size of the model. The layout is
/// `ModelFile`'s; the arrays below point into the mapping.
public final class MappedModel: @unchecked Sendable {
    public let metadata: ModelFile.Metadata
    public let userIDs: UnsafeBufferPointer<Int32>
    public let itemIDs: UnsafeBufferPointer<Int32>
    public let popularItems: UnsafeBufferPointer<Int32>
    public let popularScores: UnsafeBufferPointer<Float>
    let sections: [String: UnsafeRawBufferPointer]
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private var userIndexByID: [Int32]
    private var itemIndexByID: [Int32]

    public var algorithm: Algorithm { metadata.algorithm }
    public var itemCount: Int { itemIDs.count }

    /// Maps `path`. The whole-file checksum is the cache's job (once, when the file arrives);
    /// here the header, the length and every section bound are checked.
    public init(path: String) throws(FunctionError) {
        func corrupt(_ why: String) -> FunctionError { FunctionError.dependencyDown("model artifact \(path) is corrupt: \(why)") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FunctionError.dependencyDown("cannot open model \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        length = Int(info.st_size)
        guard length >= ModelFile.headerSize else { throw corrupt("too short") }
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw FunctionError.dependencyDown("cannot map model \(path): \(String(cString: strerror(errno)))")
        }
        base = mapped
        let raw = UnsafeRawBufferPointer(start: mapped, count: length)
        guard Array(raw[0..<8]) == ModelFile.magic else { munmap(mapped, length); throw corrupt("not a MovieRec model file") }
        let version = raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let count = Int(raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        let payload = Int(raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        guard version == ModelFile.formatVersion, payload + ModelFile.headerSize == length, count < 64,
              ModelFile.headerSize + count * 32 <= length else { munmap(mapped, length); throw corrupt("bad header") }
        var found: [String: UnsafeRawBufferPointer] = [:]
        for index in 0..<count {
            let entry = ModelFile.headerSize + index * 32
            let tag = String(decoding: raw[entry..<entry + 8].prefix { $0 != 0 }, as: UTF8.self)
            let offset = Int(raw.loadUnaligned(fromByteOffset: entry + 8, as: UInt64.self))
            let size = Int(raw.loadUnaligned(fromByteOffset: entry + 16, as: UInt64.self))
            guard offset >= ModelFile.headerSize, size >= 0, offset + size <= length, offset % 64 == 0 else {
                munmap(mapped, length); throw corrupt("section \(tag) out of bounds")
            }
            found[tag] = UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size])
        }
        sections = found
        func typed<T>(_ tag: String, _: T.Type) throws(FunctionError) -> UnsafeBufferPointer<T> {
            guard let section = found[tag] else { throw corrupt("missing section \(tag)") }
            return section.bindMemory(to: T.self)
        }
        do {
            guard let meta = found["META"] else { throw corrupt("missing metadata") }
            metadata = try JSONDecoder().decode(ModelFile.Metadata.self, from: Data(meta))
        } catch {
            munmap(mapped, length)
            throw (error as? FunctionError) ?? corrupt("unreadable metadata")
        }
        do {
            userIDs = try typed("UIDS", Int32.self)
            itemIDs = try typed("IIDS", Int32.self)
            popularItems = try typed("POPI", Int32.self)
            popularScores = try typed("POPS", Float.self)
        } catch {
            munmap(mapped, length)
            throw error
        }
        userIndexByID = MappedModel.index(userIDs)
        itemIndexByID = MappedModel.index(itemIDs)
    }

    deinit { munmap(base, length) }

    static func index(_ ids: UnsafeBufferPointer<Int32>) -> [Int32] {
        var map = [Int32](repeating: -1, count: Int(ids.max() ?? 0) + 1)
        for (inner, id) in ids.enumerated() where id >= 0 { map[Int(id)] = Int32(inner) }
        return map
    }

    @inline(__always) public func userIndex(_ id: Int32) -> Int32 { id >= 0 && Int(id) < userIndexByID.count ? userIndexByID[Int(id)] : -1 }
    @inline(__always) public func itemIndex(_ id: Int32) -> Int32 { id >= 0 && Int(id) < itemIndexByID.count ? itemIndexByID[Int(id)] : -1 }

    func array<T>(_ tag: String, _: T.Type) -> UnsafeBufferPointer<T> {
        sections[tag].map { $0.bindMemory(to: T.self) } ?? UnsafeBufferPointer(start: nil, count: 0)
    }
}
