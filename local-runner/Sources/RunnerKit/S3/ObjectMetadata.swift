import Foundation

/// What the store keeps about an object beside its bytes (the sidecar JSON).
struct ObjectMetadata: Codable, Sendable, Equatable {
    var key: String
    var size: Int64
    /// The ETag without its quotes: MD5 hex of the body, or `md5-of-part-md5s-N` for multipart.
    var etag: String
    var contentType: String
    /// User metadata: names lower-case, without the `x-amz-meta-` prefix.
    var userMetadata: [String: String] = [:]
    /// Stored system headers returned on GET (Cache-Control, Content-Disposition, ...).
    var headers: [String: String] = [:]
    /// Additional checksums by algorithm (`CRC32` → base64; composite ones end in `-N`).
    var checksums: [String: String] = [:]
    /// FULL_OBJECT or COMPOSITE when there is a checksum.
    var checksumType: String?
    /// Seconds since 1970.
    var lastModified: Double
    /// The data file's name in the bucket's data directory (a new name per version, so a
    /// reader that opened the old one keeps reading consistent bytes).
    var dataFile: String
    var partsCount: Int?

    var quotedETag: String { "\"\(etag)\"" }
}

/// A multipart upload in progress (upload.json in its directory).
struct UploadState: Codable, Sendable {
    var uploadID: String
    var key: String
    var initiated: Double
    var contentType: String
    var userMetadata: [String: String]
    var headers: [String: String]
    var checksumAlgorithm: String?
    var checksumType: String?
}

/// One uploaded part (part-N.json beside its bytes).
struct PartState: Codable, Sendable {
    var number: Int
    var size: Int64
    var etag: String
    var lastModified: Double
    /// The part's checksum (base64) in the upload's algorithm, if it has one.
    var checksum: String?
}

/// A part as CompleteMultipartUpload names it.
struct CompletedPart: Equatable {
    var number: Int
    var etag: String
    var checksum: String?
}
