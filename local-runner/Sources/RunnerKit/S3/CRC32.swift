import Foundation

/// A table-driven (slicing-by-8) reflected CRC-32, parameterised by its polynomial: the IEEE
/// one (zlib, `x-amz-checksum-crc32`) and Castagnoli's (`x-amz-checksum-crc32c`).
struct CRC32: Sendable {
    /// The reflected polynomial.
    let polynomial: UInt32
    /// Eight 256-entry tables, one after the other: table k gives a byte's effect k bytes on.
    private let table: [UInt32]

    static let ieee = CRC32(polynomial: 0xEDB8_8320)
    static let castagnoli = CRC32(polynomial: 0x82F6_3B78)

    init(polynomial: UInt32) {
        self.polynomial = polynomial
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ polynomial : value >> 1 }
            table[index] = value
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = table[(slice - 1) * 256 + index]
                table[slice * 256 + index] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        self.table = table
    }

    /// Continues `crc` (0 to start) over `bytes`.
    func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        table.withUnsafeBufferPointer { t -> UInt32 in
            var value = ~crc
            var index = 0
            let count = bytes.count
            // Eight bytes per step: a byte at a time is too slow for 20 MB bodies in debug builds.
            while index + 8 <= count {
                let low = value ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
                let high = UInt32(bytes[index + 4]) | UInt32(bytes[index + 5]) << 8 | UInt32(bytes[index + 6]) << 16 | UInt32(bytes[index + 7]) << 24
                let a = t[1792 + Int(low & 0xFF)] ^ t[1536 + Int((low >> 8) & 0xFF)] ^ t[1280 + Int((low >> 16) & 0xFF)] ^ t[1024 + Int(low >> 24)]
                let b = t[768 + Int(high & 0xFF)] ^ t[512 + Int((high >> 8) & 0xFF)] ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                value = a ^ b
                index += 8
            }
            while index < count {
                value = (value >> 8) ^ t[Int((value ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
            return ~value
        }
    }

    func update(_ crc: UInt32, _ data: Data) -> UInt32 { data.withUnsafeBytes { update(crc, $0) } }

    func checksum(_ data: Data) -> UInt32 { update(0, data) }

    /// The form S3 sends and expects: base64 of the big-endian value.
    static func base64(_ value: UInt32) -> String {
        Data([UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]).base64EncodedString()
    }
}
