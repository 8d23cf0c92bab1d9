#if canImport(Glibc)
import Glibc
#endif

/// Where the artifact store is and how to sign for it, from the standard AWS variables.
public struct S3Configuration: Sendable {
    /// Path-style base URL, e.g. `http://127.0.0.1:9000`; AWS's regional endpoint when unset.
    public var endpoint: String
    public var region: String
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(endpoint: String, region: String, accessKey: String, secretKey: String, sessionToken: String? = nil) {
        var trimmed = endpoint
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.endpoint = trimmed; self.region = region; self.accessKey = accessKey; self.secretKey = secretKey
        self.sessionToken = sessionToken
    }

    public static func fromEnvironment() throws(FunctionError) -> S3Configuration {
        let region = environment("AWS_REGION") ?? environment("AWS_DEFAULT_REGION") ?? "us-east-1"
        guard let key = environment("AWS_ACCESS_KEY_ID"), let secret = environment("AWS_SECRET_ACCESS_KEY") else {
            throw FunctionError.dependencyDown("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to reach the artifact store")
        }
        return S3Configuration(endpoint: environment("S3_ENDPOINT_URL") ?? "https://s3.\(region).amazonaws.com",
                               region: region, accessKey: key, secretKey: secret, sessionToken: environment("AWS_SESSION_TOKEN"))
    }
}

public struct S3Object: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var etag: String?
    public var lastModified: String?
}

/// An S3 client over libcurl with SigV4: path-style, streamed uploads and downloads,
/// multipart above a threshold. Blocking; one per thread.
public final class S3Client {
    public let configuration: S3Configuration
    private let http = HTTPClient()
    /// Uploads at or above this size go multipart, in parts of `partSize` (as `aws s3 cp` does).
    public var multipartThreshold: Int64 = 8 << 20
    public var partSize: Int64 = 8 << 20

    public init(_ configuration: S3Configuration) { self.configuration = configuration }

    public static func fromEnvironment() throws(FunctionError) -> S3Client { S3Client(try .fromEnvironment()) }

    // MARK: buckets

    public func createBucket(_ bucket: String) throws(FunctionError) {
        let response = try send("PUT", bucket: bucket, key: nil)
        if response.status == 409, errorCode(response) == "BucketAlreadyOwnedByYou" { return }
        try expectSuccess(response, "create bucket \(bucket)")
    }

    public func bucketExists(_ bucket: String) throws(FunctionError) -> Bool {
        let response = try send("HEAD", bucket: bucket, key: nil)
        if response.status == 404 { return false }
        try expectSuccess(response, "head bucket \(bucket)")
        return true
    }

    // MARK: objects

    public func put(_ data: Data, bucket: String, key: String, contentType: String = "application/octet-stream") throws(FunctionError) {
        let response = try send("PUT", bucket: bucket, key: key, headers: ["Content-Type": contentType], body: .bytes(data))
        try expectSuccess(response, "put s3://\(bucket)/\(key)")
    }

    /// Uploads a file without reading it into memory; multipart when it is large.
    public func putFile(_ path: String, bucket: String, key: String, contentType: String = "application/octet-stream") throws(FunctionError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FunctionError.invalidInput("cannot read \(path): \(String(cString: strerror(errno)))") }
        let size = Int64(info.st_size)
        if size < multipartThreshold {
            let response = try send("PUT", bucket: bucket, key: key, headers: ["Content-Type": contentType],
                                    body: .file(path: path, offset: 0, length: size))
            try expectSuccess(response, "put s3://\(bucket)/\(key)")
            return
        }
        let created = try send("POST", bucket: bucket, key: key, query: [("uploads", "")], headers: ["Content-Type": contentType])
        try expectSuccess(created, "start multipart upload of s3://\(bucket)/\(key)")
        guard let uploadId = XMLText.first("UploadId", in: created.body) else {
            throw FunctionError.dependencyDown("S3 did not return an UploadId for s3://\(bucket)/\(key)")
        }
        do throws(FunctionError) {
            var parts: [(Int, String)] = []
            var offset: Int64 = 0
            var number = 1
            while offset < size {
                let length = min(partSize, size - offset)
                let response = try send("PUT", bucket: bucket, key: key,
                                        query: [("partNumber", String(number)), ("uploadId", uploadId)],
                                        body: .file(path: path, offset: offset, length: length))
                try expectSuccess(response, "upload part \(number) of s3://\(bucket)/\(key)")
                parts.append((number, response.header("etag") ?? ""))
                offset += length
                number += 1
            }
            var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            for (number, etag) in parts {
                xml += "<Part><PartNumber>\(number)</PartNumber><ETag>\(XMLText.escape(etag))</ETag></Part>"
            }
            xml += "</CompleteMultipartUpload>"
            let completed = try send("POST", bucket: bucket, key: key, query: [("uploadId", uploadId)],
                                     headers: ["Content-Type": "application/xml"], body: .bytes(Data(xml.utf8)))
            try expectSuccess(completed, "complete multipart upload of s3://\(bucket)/\(key)")
            // S3 may answer 200 with an error document when completion fails late.
            if let code = XMLText.first("Code", in: completed.body) {
                throw FunctionError.dependencyDown("S3 could not complete the upload of s3://\(bucket)/\(key): \(code)")
            }
        } catch {
            _ = try? send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadId)])
            throw error
        }
    }

    /// The object's bytes, or a byte range of them (inclusive bounds, as HTTP ranges are).
    public func get(bucket: String, key: String, range: ClosedRange<Int64>? = nil) throws(FunctionError) -> Data {
        var headers: [String: String] = [:]
        if let range { headers["Range"] = "bytes=\(range.lowerBound)-\(range.upperBound)" }
        let response = try send("GET", bucket: bucket, key: key, headers: headers)
        try expectSuccess(response, "get s3://\(bucket)/\(key)")
        return response.body
    }

    /// Streams the object into a file.
    public func download(bucket: String, key: String, to path: String) throws(FunctionError) {
        let response = try send("GET", bucket: bucket, key: key, sink: .file(path: path))
        try expectSuccess(response, "get s3://\(bucket)/\(key)")
    }

    /// The object's size and ETag, or nil when there is no such key.
    public func head(bucket: String, key: String) throws(FunctionError) -> S3Object? {
        let response = try send("HEAD", bucket: bucket, key: key)
        if response.status == 404 { return nil }
        try expectSuccess(response, "head s3://\(bucket)/\(key)")
        return S3Object(key: key, size: Int64(response.header("content-length") ?? "") ?? 0,
                        etag: response.header("etag"), lastModified: response.header("last-modified"))
    }

    public func delete(bucket: String, key: String) throws(FunctionError) {
        let response = try send("DELETE", bucket: bucket, key: key)
        try expectSuccess(response, "delete s3://\(bucket)/\(key)")
    }

    /// Every object under `prefix`, following continuation tokens (ListObjectsV2).
    public func list(bucket: String, prefix: String = "", pageSize: Int = 1000) throws(FunctionError) -> [S3Object] {
        var objects: [S3Object] = []
        var token: String?
        repeat {
            var query: [(String, String)] = [("encoding-type", "url"), ("list-type", "2"), ("max-keys", String(pageSize)), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try send("GET", bucket: bucket, key: nil, query: query)
            try expectSuccess(response, "list s3://\(bucket)/\(prefix)")
            for block in XMLText.all("Contents", in: response.body) {
                let key = percentDecode(Substring(XMLText.first("Key", in: block) ?? ""), plusIsSpace: false)
                objects.append(S3Object(key: key, size: Int64(XMLText.first("Size", in: block) ?? "") ?? 0,
                                        etag: XMLText.first("ETag", in: block), lastModified: XMLText.first("LastModified", in: block)))
            }
            token = XMLText.first("IsTruncated", in: response.body) == "true" ? XMLText.first("NextContinuationToken", in: response.body) : nil
        } while token != nil
        return objects
    }

    // MARK: transport

    private func send(_ method: String, bucket: String, key: String?, query: [(String, String)] = [],
                      headers: [String: String] = [:], body: HTTPClient.Body = .none,
                      sink: HTTPClient.Sink = .memory) throws(FunctionError) -> HTTPClient.Response {
        try Self.validateBucket(bucket)
        var url = configuration.endpoint + "/" + bucket
        if let key {
            try Self.validateKey(key)
            url += "/" + percentEncode(key, keepSlash: true)
        }
        if !query.isEmpty {
            // Sorted and fully encoded: the canonical query string SigV4 signs.
            url += "?" + query.sorted { $0.0 < $1.0 }.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
        }
        var allHeaders = headers
        // libcurl signs an empty payload hash unless told otherwise (see REFERENCE.md).
        allHeaders["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        let signing = HTTPClient.AWSSigning(accessKey: configuration.accessKey, secretKey: configuration.secretKey,
                                            region: configuration.region, service: "s3", sessionToken: configuration.sessionToken)
        return try http.send(method, url: url, headers: allHeaders, body: body, sink: sink, timeout: 600, signing: signing)
    }

    private func expectSuccess(_ response: HTTPClient.Response, _ what: String) throws(FunctionError) {
        guard !(200..<300).contains(response.status) else { return }
        let code = errorCode(response) ?? "HTTP \(response.status)"
        let message = XMLText.first("Message", in: response.body) ?? ""
        let details: [String: JSONValue] = ["s3_code": .string(code), "http_status": .number(Double(response.status))]
        switch (response.status, code) {
        case (404, _), (_, "NoSuchKey"), (_, "NoSuchBucket"):
            throw FunctionError.notFound("\(what): \(code == "HTTP 404" ? "not found" : code)", details: details)
        default:
            throw FunctionError.dependencyDown("\(what) failed: \(code)\(message.isEmpty ? "" : " (\(message))")", details: details)
        }
    }

    private func errorCode(_ response: HTTPClient.Response) -> String? { XMLText.first("Code", in: response.body) }

    /// Keys are relative object names: no empty, absolute or `..` segments (no path traversal).
    public static func validateKey(_ key: String) throws(FunctionError) {
        guard !key.isEmpty, key.utf8.count <= 1024 else { throw FunctionError.invalidInput("S3 key must be 1 to 1024 bytes") }
        guard !key.hasPrefix("/"), !key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0 == "." }) else {
            throw FunctionError.invalidInput("S3 key '\(key)' may not start with '/' or contain '.' or '..' segments")
        }
        guard !key.utf8.contains(where: { $0 < 0x20 }) else { throw FunctionError.invalidInput("S3 key may not contain control characters") }
    }

    public static func validateBucket(_ bucket: String) throws(FunctionError) {
        let allowed = bucket.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
        guard (3...63).contains(bucket.count), allowed else {
            throw FunctionError.invalidInput("'\(bucket)' is not a valid bucket name (3-63 lower-case letters, digits, '-' or '.')")
        }
    }

    /// Splits `s3://bucket/prefix` into its parts.
    public static func parse(url: String) throws(FunctionError) -> (bucket: String, key: String) {
        guard url.hasPrefix("s3://") else { throw FunctionError.invalidInput("'\(url)' is not an s3:// URL") }
        let rest = url.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let bucket = String(parts[0])
        try validateBucket(bucket)
        return (bucket, parts.count > 1 ? String(parts[1]) : "")
    }
}

/// Just enough XML for S3's answers: the text of named elements, entities decoded.
enum XMLText {
    static func all(_ name: String, in data: Data) -> [Data] {
        let open = Array("<\(name)>".utf8), close = Array("</\(name)>".utf8)
        let bytes = [UInt8](data)
        var results: [Data] = []
        var index = 0
        while let start = find(open, in: bytes, from: index) {
            let contentStart = start + open.count
            guard let end = find(close, in: bytes, from: contentStart) else { break }
            results.append(Data(bytes[contentStart..<end]))
            index = end + close.count
        }
        return results
    }

    static func first(_ name: String, in data: Data) -> String? {
        all(name, in: data).first.map { unescape(String(decoding: $0, as: UTF8.self)) }
    }

    static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
    }

    static func unescape(_ text: String) -> String {
        text.replacing("&quot;", with: "\"").replacing("&apos;", with: "'").replacing("&lt;", with: "<")
            .replacing("&gt;", with: ">").replacing("&#34;", with: "\"").replacing("&amp;", with: "&")
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
