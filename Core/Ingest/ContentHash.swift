#if canImport(Glibc)
import Glibc
#endif

/// A fast 64-bit content hash for file fingerprints (is this the dataset we imported before?).
/// Not cryptographic: it guards against accidents, not adversaries.
public struct ContentHash {
    private var state: UInt64 = 0x243F_6A88_85A3_08D3
    private var length: UInt64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            state = (state ^ word) &* 0x9E37_79B9_7F4A_7C15
            state ^= state >> 29
            index += 8
        }
        while index < count {
            state = (state ^ UInt64(bytes[index])) &* 0x100_0000_01B3
            index += 1
        }
        length &+= UInt64(count)
    }

    public var hex: String {
        var h = state ^ length
        h ^= h >> 33; h = h &* 0xFF51_AFD7_ED55_8CCD; h ^= h >> 33
        let text = String(h, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }

    /// Hashes a whole file in 4 MB reads; returns (hex, size).
    public static func file(_ path: String) throws(FunctionError) -> (hash: String, size: Int64) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FunctionError.invalidInput("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Reads of 4 MB keep the 8-byte chunking aligned, so the result does not depend on read sizes.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var hash = ContentHash()
        var size: Int64 = 0
        while true {
            var filled = 0
            while filled < buffer.count {
                let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if n <= 0 { break }
                filled += n
            }
            if filled == 0 { break }
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<filled]))
            size += Int64(filled)
            if filled < buffer.count { break }
        }
        return (hash.hex, size)
    }
}

/// A set of small non-negative integer ids as a bit array: 17 KB for 139k users.
public struct IDSet {
    private var words: [UInt64] = []
    public private(set) var count = 0
    public static let maximumID: Int32 = 1 << 28

    public init() {}

    /// Inserts `id`; false when it was already there.
    @inline(__always) @discardableResult
    public mutating func insert(_ id: Int32) -> Bool {
        let word = Int(id >> 6)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: max(word + 1 - words.count, words.count))) }
        let mask = UInt64(1) << UInt64(id & 63)
        if words[word] & mask != 0 { return false }
        words[word] |= mask
        count += 1
        return true
    }

    @inline(__always)
    public func contains(_ id: Int32) -> Bool {
        let word = Int(id >> 6)
        return word < words.count && words[word] & (UInt64(1) << UInt64(id & 63)) != 0
    }

    @inline(__always)
    public mutating func remove(_ id: Int32) {
        let word = Int(id >> 6)
        if word < words.count, words[word] & (UInt64(1) << UInt64(id & 63)) != 0 {
            words[word] &= ~(UInt64(1) << UInt64(id & 63))
            count -= 1
        }
    }

    /// Ids in ascending order.
    public func forEach(_ body: (Int32) throws(FunctionError) -> Void) throws(FunctionError) {
        for (index, word) in words.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let bit = bits.trailingZeroBitCount
                try body(Int32(index * 64 + bit))
                bits &= bits - 1
            }
        }
    }
}
