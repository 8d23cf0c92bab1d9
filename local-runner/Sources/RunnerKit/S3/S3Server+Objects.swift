import Foundation

/// Object operations: PutObject, CopyObject, GetObject, HeadObject, DeleteObject (multipart
/// ones are in S3Server+Multipart.swift).
extension S3Server {
    static let unsupportedObjectResources: Set<String> = ["acl", "tagging", "retention", "legal-hold", "torrent", "attributes", "restore", "select"]

    /// System headers S3 stores with an object and returns on GET.
    static let storedHeaders = ["Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"]

    func objectRequest(_ call: Call, _ store: ObjectStore) throws -> HTTPServer.Response {
        if let unsupported = call.query.keys.first(where: Self.unsupportedObjectResources.contains) {
            throw S3Error.notImplemented("?\(unsupported)")
        }
        guard let key = call.key else { throw S3Error.internalError("object request without a key") }
        try S3Names.validateKey(key)
        switch call.request.method {
        case "PUT":
            if call.has("uploadId") || call.has("partNumber") { return try uploadPart(call, key: key, store) }
            if call.header("x-amz-copy-source") != nil { return try copyObject(call, key: key, store) }
            return try putObject(call, key: key, store)
        case "GET", "HEAD":
            if call.has("uploadId") && call.request.method == "GET" { return try listParts(call, key: key, store) }
            return try getObject(call, key: key, store)
        case "DELETE":
            if call.has("uploadId") {
                try store.abortUpload(bucket: call.bucket, uploadID: call.query["uploadId"] ?? "", key: key)
                return HTTPServer.Response(status: 204)
            }
            try store.delete(bucket: call.bucket, key: key)
            return HTTPServer.Response(status: 204)
        case "POST":
            if call.has("uploads") { return try createUpload(call, key: key, store) }
            if call.has("uploadId") { return try completeUpload(call, key: key, store) }
            throw methodNotAllowed("POST", resource: "OBJECT", allow: "GET, PUT, HEAD, DELETE")
        default:
            throw methodNotAllowed(call.request.method, resource: "OBJECT", allow: "GET, PUT, HEAD, DELETE, POST")
        }
    }

    // MARK: metadata from and to headers

    /// Content type, user metadata and stored headers as the request gives them.
    static func template(from call: Call) -> ObjectMetadata {
        var meta = ObjectMetadata(key: "", size: 0, etag: "", contentType: call.header("content-type") ?? "binary/octet-stream", lastModified: 0, dataFile: "")
        for (name, value) in call.request.headers where name.lowercased().hasPrefix("x-amz-meta-") {
            meta.userMetadata[String(name.lowercased().dropFirst("x-amz-meta-".count))] = value
        }
        for name in storedHeaders {
            guard var value = call.header(name) else { continue }
            if name == "Content-Encoding" {
                // aws-chunked is framing on the wire, not how the object is encoded.
                value = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0 != "aws-chunked" }.joined(separator: ",")
                if value.isEmpty { continue }
            }
            meta.headers[name] = value
        }
        return meta
    }

    /// Checks Content-MD5 when the client sent one (BadDigest on mismatch).
    func verifyContentMD5(_ call: Call) throws {
        guard let sent = call.header("content-md5") else { return }
        guard let digest = Data(base64Encoded: sent), digest.count == 16 else {
            throw S3Error(code: "InvalidDigest", status: 400, message: "The Content-MD5 you specified was invalid.")
        }
        guard digest == Digest.md5(call.payload) else {
            throw S3Error.badDigest("The Content-MD5 you specified did not match what we received.")
        }
    }

    /// The additional checksum of the payload: a sent one (header or trailer) is verified;
    /// one only named (x-amz-sdk-checksum-algorithm) is computed. Nil when there is neither.
    static func checksum(of call: Call, algorithmHint: String? = nil) throws -> (ChecksumAlgorithm, String)? {
        for algorithm in ChecksumAlgorithm.allCases {
            guard let sent = call.header(algorithm.headerName) ?? call.trailers[algorithm.headerName] else { continue }
            let computed = algorithm.base64(call.payload)
            guard sent == computed else {
                throw S3Error.badDigest("The \(algorithm.rawValue) you specified did not match the calculated checksum.")
            }
            return (algorithm, computed)
        }
        if let name = call.header("x-amz-sdk-checksum-algorithm") ?? call.header("x-amz-checksum-algorithm") ?? algorithmHint,
           let algorithm = ChecksumAlgorithm(name: name) {
            return (algorithm, algorithm.base64(call.payload))
        }
        return nil
    }

    /// Headers describing a stored object (GET, HEAD).
    static func objectHeaders(_ meta: ObjectMetadata, call: Call, whole: Bool) -> [(String, String)] {
        var headers: [(String, String)] = [
            ("Content-Type", call.query["response-content-type"] ?? meta.contentType),
            ("ETag", meta.quotedETag),
            ("Last-Modified", HTTPDate.rfc1123(meta.lastModified)),
            ("Accept-Ranges", "bytes"),
        ]
        let overrides = ["Cache-Control": "response-cache-control", "Content-Disposition": "response-content-disposition",
                         "Content-Encoding": "response-content-encoding", "Content-Language": "response-content-language", "Expires": "response-expires"]
        for name in storedHeaders {
            if let value = overrides[name].flatMap({ call.query[$0] }) ?? meta.headers[name] { headers.append((name, value)) }
        }
        for (name, value) in meta.userMetadata.sorted(by: { $0.key < $1.key }) { headers.append(("x-amz-meta-\(name)", value)) }
        // S3 returns checksums only when asked, and only for the whole object.
        if whole, call.header("x-amz-checksum-mode")?.uppercased() == "ENABLED" {
            for (algorithm, value) in meta.checksums.sorted(by: { $0.key < $1.key }) {
                if let known = ChecksumAlgorithm(name: algorithm) { headers.append((known.headerName, value)) }
            }
            if let type = meta.checksumType { headers.append(("x-amz-checksum-type", type)) }
        }
        if let parts = meta.partsCount { headers.append(("x-amz-mp-parts-count", String(parts))) }
        return headers
    }

    // MARK: operations

    func putObject(_ call: Call, key: String, _ store: ObjectStore) throws -> HTTPServer.Response {
        try verifyContentMD5(call)
        var template = Self.template(from: call)
        var headers: [(String, String)] = []
        if let (algorithm, value) = try Self.checksum(of: call) {
            template.checksums[algorithm.rawValue] = value
            template.checksumType = "FULL_OBJECT"
            headers += [(algorithm.headerName, value), ("x-amz-checksum-type", "FULL_OBJECT")]
        }
        let meta = try store.put(bucket: call.bucket, key: key, data: call.payload, template: template)
        return HTTPServer.Response(status: 200, headers: [("ETag", meta.quotedETag)] + headers)
    }

    /// CopyObject: `x-amz-copy-source: /bucket/key` (URL-encoded), metadata kept unless
    /// `x-amz-metadata-directive: REPLACE`.
    func copyObject(_ call: Call, key: String, _ store: ObjectStore) throws -> HTTPServer.Response {
        let header = call.header("x-amz-copy-source") ?? ""
        let withoutVersion = header.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard let decoded = SigV4.percentDecode(withoutVersion) else { throw S3Error.invalidArgument("Invalid copy source encoding") }
        let source = decoded.hasPrefix("/") ? decoded.dropFirst() : Substring(decoded)
        guard let slash = source.firstIndex(of: "/"), source.index(after: slash) < source.endIndex else {
            throw S3Error.invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        }
        let sourceBucket = String(source[..<slash]), sourceKey = String(source[source.index(after: slash)...])
        try S3Names.validateBucket(sourceBucket)
        let directive = call.header("x-amz-metadata-directive")?.uppercased() ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else { throw S3Error.invalidArgument("Unknown metadata directive: \(directive)") }
        if sourceBucket == call.bucket, sourceKey == key, directive == "COPY" {
            throw S3Error.invalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
        }
        let sourceMeta = try store.metadata(bucket: sourceBucket, key: sourceKey)
        if let match = call.header("x-amz-copy-source-if-match"), !Self.etagMatches(match, sourceMeta.etag) {
            throw S3Error(code: "PreconditionFailed", status: 412, message: "At least one of the pre-conditions you specified did not hold", details: ["Condition": "x-amz-copy-source-If-Match"])
        }
        if let noneMatch = call.header("x-amz-copy-source-if-none-match"), Self.etagMatches(noneMatch, sourceMeta.etag) {
            throw S3Error(code: "PreconditionFailed", status: 412, message: "At least one of the pre-conditions you specified did not hold", details: ["Condition": "x-amz-copy-source-If-None-Match"])
        }
        let template = directive == "REPLACE" ? Self.template(from: call) : nil
        let meta = try store.copy(from: (sourceBucket, sourceKey), to: (call.bucket, key), template: template)
        let body = S3XML.document("CopyObjectResult", [S3XML.element("LastModified", HTTPDate.iso8601(meta.lastModified)), S3XML.element("ETag", meta.quotedETag)])
        return Self.xml(body)
    }

    /// True when an If-Match style list (`"a", "b"` or `*`) names `etag`.
    static func etagMatches(_ list: String, _ etag: String) -> Bool {
        list.split(separator: ",").contains { item in
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            return trimmed == "*" || trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == etag || trimmed == "W/\"\(etag)\""
        }
    }

    /// GetObject and HeadObject: conditions, then the whole object or one range of it.
    func getObject(_ call: Call, key: String, _ store: ObjectStore) throws -> HTTPServer.Response {
        if call.has("partNumber") { throw S3Error.notImplemented("?partNumber on GET") }
        let meta = try store.metadata(bucket: call.bucket, key: key)
        let modified = meta.lastModified.rounded(.down)
        let failed = S3Error(code: "PreconditionFailed", status: 412, message: "At least one of the pre-conditions you specified did not hold")
        if let match = call.header("if-match") {
            guard Self.etagMatches(match, meta.etag) else { throw failed }
        } else if let since = call.header("if-unmodified-since").flatMap(HTTPDate.parseRFC1123), modified > since {
            throw failed
        }
        let notModified = HTTPServer.Response(status: 304, headers: [("ETag", meta.quotedETag), ("Last-Modified", HTTPDate.rfc1123(meta.lastModified))])
        if let noneMatch = call.header("if-none-match") {
            if Self.etagMatches(noneMatch, meta.etag) { return notModified }
        } else if let since = call.header("if-modified-since").flatMap(HTTPDate.parseRFC1123), modified <= since {
            return notModified
        }
        let range = ByteRange.parse(call.header("range"), size: meta.size)
        switch range {
        case .unsatisfiable:
            throw S3Error(code: "InvalidRange", status: 416, message: "The requested range is not satisfiable",
                          details: ["RangeRequested": call.header("range") ?? "", "ActualObjectSize": String(meta.size)])
        case .whole:
            var headers = Self.objectHeaders(meta, call: call, whole: true)
            if call.isHead { return HTTPServer.Response(status: 200, headers: headers, contentLength: Int(meta.size)) }
            let (current, data) = try store.read(bucket: call.bucket, key: key)
            if current.dataFile != meta.dataFile { headers = Self.objectHeaders(current, call: call, whole: true) }
            return HTTPServer.Response(status: 200, headers: headers, body: data)
        case .partial(let bytes):
            var headers = Self.objectHeaders(meta, call: call, whole: false)
            headers.append(("Content-Range", "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(meta.size)"))
            if call.isHead { return HTTPServer.Response(status: 206, headers: headers, contentLength: Int(bytes.upperBound - bytes.lowerBound + 1)) }
            let (current, data) = try store.read(bucket: call.bucket, key: key, range: bytes)
            // Replaced between the look-up and the read: answer as if the read came first.
            guard current.dataFile == meta.dataFile else { return try getObject(call, key: key, store) }
            return HTTPServer.Response(status: 206, headers: headers, body: data)
        }
    }
}
