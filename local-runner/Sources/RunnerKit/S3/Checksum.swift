import Crypto
import Foundation

/// The additional checksums S3 accepts in `x-amz-checksum-*` headers and trailers, each sent
/// as base64 of its binary digest.
enum ChecksumAlgorithm: String, CaseIterable, Codable, Sendable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// `x-amz-checksum-crc32`, ...
    var headerName: String { "x-amz-checksum-\(rawValue.lowercased())" }

    /// The element name in XML answers (`ChecksumCRC32`).
    var xmlName: String { "Checksum\(rawValue)" }

    init?(name: String) { self.init(rawValue: name.uppercased()) }

    /// The binary digest of `data`.
    func digest(_ data: Data) -> Data {
        var state = ChecksumState(self)
        state.update(data)
        return state.finish()
    }

    func base64(_ data: Data) -> String { digest(data).base64EncodedString() }
}

/// A checksum computed incrementally (when an object is assembled from its parts).
struct ChecksumState {
    let algorithm: ChecksumAlgorithm
    private var crc: UInt32 = 0
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    init(_ algorithm: ChecksumAlgorithm) { self.algorithm = algorithm }

    mutating func update(_ data: Data) {
        switch algorithm {
        case .crc32: crc = CRC32.ieee.update(crc, data)
        case .crc32c: crc = CRC32.castagnoli.update(crc, data)
        case .sha1: sha1.update(data: data)
        case .sha256: sha256.update(data: data)
        }
    }

    func finish() -> Data {
        switch algorithm {
        case .crc32, .crc32c: return Data([UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)])
        case .sha1: return Data(sha1.finalize())
        case .sha256: return Data(sha256.finalize())
        }
    }
}

/// Hex and digest helpers shared by the verifier and the store.
enum Digest {
    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 0x0F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }
    static func sha256Hex(_ text: String) -> String { hex(SHA256.hash(data: Data(text.utf8))) }
    static func md5(_ data: Data) -> Data { Data(Insecure.MD5.hash(data: data)) }

    /// Bytes from lower- or upper-case hex; nil when it is not hex.
    static func bytes(hex text: String) -> Data? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = Data(capacity: utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    /// Compares in time independent of where the inputs differ (signatures, digests).
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }
}
