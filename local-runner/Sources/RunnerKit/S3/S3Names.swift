import Foundation

/// What S3 accepts as bucket names and object keys. Keys never become file names (the store
/// names files by a digest of the key), so these rules are S3's, not a path-safety filter.
enum S3Names {
    static let maximumKeyBytes = 1024

    /// S3's rules for general purpose buckets: 3-63 characters of lower-case letters, digits,
    /// '.' and '-', starting and ending with a letter or digit, no '..', not an IPv4 address,
    /// none of the reserved prefixes and suffixes.
    static func validateBucket(_ name: String) throws {
        let invalid = S3Error(code: "InvalidBucketName", status: 400, message: "The specified bucket is not valid.", details: ["BucketName": name])
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { throw invalid }
        func isLowerAlphanumeric(_ byte: UInt8) -> Bool { (97...122).contains(byte) || (48...57).contains(byte) }
        guard bytes.allSatisfy({ isLowerAlphanumeric($0) || $0 == 46 || $0 == 45 }) else { throw invalid }
        guard let first = bytes.first, let last = bytes.last, isLowerAlphanumeric(first), isLowerAlphanumeric(last) else { throw invalid }
        guard !name.contains(".."), !name.contains(".-"), !name.contains("-.") else { throw invalid }
        let quads = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !(quads.count == 4 && quads.allSatisfy { UInt8($0) != nil }) else { throw invalid }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] where name.hasPrefix(prefix) { throw invalid }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] where name.hasSuffix(suffix) { throw invalid }
    }

    /// 1 to 1024 bytes of UTF-8. NUL is refused: it ends C strings in every tool that might
    /// handle the key later, and S3 clients never send it.
    static func validateKey(_ key: String) throws {
        guard !key.isEmpty else { throw S3Error.invalidArgument("An object key must not be empty") }
        guard key.utf8.count <= maximumKeyBytes else {
            throw S3Error(code: "KeyTooLongError", status: 400, message: "Your key is too long (\(key.utf8.count) bytes; the limit is \(maximumKeyBytes)).")
        }
        guard !key.utf8.contains(0) else { throw S3Error.invalidArgument("An object key must not contain NUL") }
    }
}
