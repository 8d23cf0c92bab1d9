import Foundation

/// The runner's own S3 endpoint: path-style (`http://host:port/bucket/key`), SigV4-verified
/// against one key pair, objects on disk under `root`. Buckets, objects, listings, copies
/// and multipart uploads, with S3's XML answers and errors.
final class S3Server: @unchecked Sendable {
    let host: String
    let root: URL
    let credentials: S3Credentials
    let region: String
    /// The largest request body held in memory (one PUT or one part); S3's own limit is 5 GiB.
    let maximumRequestBody: Int
    let minimumPartSize: Int64
    private(set) var port: Int
    private let verifier: SigV4Verifier
    private var http: HTTPServer?
    private var storage: ObjectStore?
    private let lock = NSLock()

    init(host: String, port: Int, root: URL, credentials: S3Credentials, region: String = "us-east-1",
         maximumRequestBody: Int = 512 << 20, minimumPartSize: Int64 = 5 << 20) {
        self.host = host
        self.port = port
        self.root = root
        self.credentials = credentials
        self.region = region
        self.maximumRequestBody = maximumRequestBody
        self.minimumPartSize = minimumPartSize
        self.verifier = SigV4Verifier(credentials: credentials, region: region)
    }

    /// Opens the store (once) under `root`.
    func store() throws -> ObjectStore {
        try lock.withLock {
            if let storage { return storage }
            let opened = try ObjectStore(root: root, minimumPartSize: minimumPartSize)
            storage = opened
            return opened
        }
    }

    /// Binds and serves on a background thread; returns the bound port (port 0 picks one).
    @discardableResult
    func start() throws -> Int {
        _ = try store()
        let limit = maximumRequestBody
        let server = HTTPServer(host: host, port: port, maximumBody: limit, tooLarge: {
            let error = S3Error(code: "EntityTooLarge", status: 400, message: "Your proposed upload exceeds the maximum allowed size",
                                details: ["MaxSizeAllowed": String(limit)])
            return S3Server.errorResponse(error, resource: "/", requestID: S3Server.newRequestID(), head: false)
        }, screen: { [weak self] request in
            self?.authenticationFailure(request)
        }, handler: { [weak self] request in
            self?.handle(request) ?? HTTPServer.Response(status: 503)
        })
        port = try server.start()
        lock.withLock { http = server }
        return port
    }

    func stop() { lock.withLock { http?.stop(); http = nil } }

    /// Makes the bucket if it is missing (start-up: the functions' artifact bucket).
    func createBucket(_ name: String) throws { try store().createBucket(name) }

    // MARK: requests

    /// One parsed, authenticated request.
    struct Call {
        var request: HTTPServer.Request
        var bucket: String
        /// Nil for a bucket-level (or service-level) request.
        var key: String?
        /// Decoded query parameters (the first value of each name).
        var query: [String: String]
        /// The body with any aws-chunked framing removed and verified.
        var payload: Data
        var trailers: [String: String]
        var requestID: String

        func header(_ name: String) -> String? { request.header(name) }
        func has(_ parameter: String) -> Bool { query[parameter] != nil }
        var isHead: Bool { request.method == "HEAD" }
    }

    static func newRequestID() -> String { ObjectStore.randomHex(8).uppercased() }

    func handle(_ request: HTTPServer.Request, failure: Error? = nil) -> HTTPServer.Response {
        let requestID = Self.newRequestID()
        let resource = SigV4.percentDecode(Substring(request.path)) ?? request.path
        var response: HTTPServer.Response
        do {
            if let failure { throw failure }
            response = try route(request, requestID: requestID)
        } catch let error as S3Error {
            response = Self.errorResponse(error, resource: resource, requestID: requestID, head: request.method == "HEAD")
        } catch {
            response = Self.errorResponse(.internalError("\(error)"), resource: resource, requestID: requestID, head: request.method == "HEAD")
        }
        response.headers.append(("x-amz-request-id", requestID))
        response.headers.append(("x-amz-id-2", requestID))
        response.headers.append(("Server", "AmazonS3"))
        response.headers.append(("Date", HTTPDate.rfc1123(Date().timeIntervalSince1970)))
        if request.method == "HEAD" {
            // A HEAD answer describes a body it does not carry.
            if response.contentLength == nil { response.contentLength = response.body.count }
            response.body = Data()
        }
        return response
    }

    /// The signature is checked from the headers before a byte of the body is read, so an
    /// unauthenticated upload costs no memory (the body's own hash is checked after, in route).
    func authenticationFailure(_ request: HTTPServer.Request) -> HTTPServer.Response? {
        do {
            _ = try verifier.verify(method: request.method, rawPath: request.path, rawQuery: request.rawQuery, headers: request.headers)
            return nil
        } catch {
            return handle(request, failure: error)
        }
    }

    static func errorResponse(_ error: S3Error, resource: String, requestID: String, head: Bool) -> HTTPServer.Response {
        var headers = [("Content-Type", "application/xml")]
        if error.code == "MethodNotAllowed", let allow = error.details["Allow"] { headers.append(("Allow", allow)) }
        return HTTPServer.Response(status: error.status, headers: headers,
                                   body: head ? Data() : S3XML.error(error, resource: resource, requestID: requestID), contentLength: head ? 0 : nil)
    }

    private func route(_ request: HTTPServer.Request, requestID: String) throws -> HTTPServer.Response {
        guard request.path.hasPrefix("/") else { throw S3Error(code: "InvalidURI", status: 400, message: "Couldn't parse the specified URI.") }
        let verified = try verifier.verify(method: request.method, rawPath: request.path, rawQuery: request.rawQuery, headers: request.headers)
        let (payload, trailers) = try Self.payload(of: request, verified: verified)

        let path = request.path.dropFirst()
        let slash = path.firstIndex(of: "/")
        let bucket = String(slash.map { path[..<$0] } ?? path)
        let rawKey = slash.map { path[path.index(after: $0)...] } ?? ""
        guard let decodedBucket = SigV4.percentDecode(Substring(bucket)), let key = SigV4.percentDecode(rawKey) else {
            throw S3Error(code: "InvalidURI", status: 400, message: "Couldn't parse the specified URI.")
        }
        var query: [String: String] = [:]
        for (name, value) in SigV4.queryPairs(request.rawQuery) ?? [] where query[name] == nil { query[name] = value }
        let call = Call(request: request, bucket: decodedBucket, key: key.isEmpty ? nil : key, query: query, payload: payload, trailers: trailers, requestID: requestID)
        let store = try store()

        if call.bucket.isEmpty {
            guard request.method == "GET" else { throw methodNotAllowed(request.method, resource: "SERVICE", allow: "GET") }
            return listBuckets(store)
        }
        try S3Names.validateBucket(call.bucket)
        if call.key == nil {
            return try bucketRequest(call, store)
        }
        return try objectRequest(call, store)
    }

    func methodNotAllowed(_ method: String, resource: String, allow: String) -> S3Error {
        S3Error(code: "MethodNotAllowed", status: 405, message: "The specified method is not allowed against this resource.",
                details: ["Method": method, "ResourceType": resource, "Allow": allow])
    }

    /// The body as the client meant it: aws-chunked framing removed (chunk signatures checked
    /// when signed), or the whole body checked against its signed SHA-256.
    static func payload(of request: HTTPServer.Request, verified: SigV4Verifier.Verified) throws -> (Data, [String: String]) {
        let declared = verified.payloadHash
        if let mode = AWSChunked.Mode(rawValue: declared) {
            let signer = mode.isSigned ? AWSChunked.Signer(amzDate: verified.amzDate, scope: verified.scope, key: verified.signingKey, seedSignature: verified.signature) : nil
            let decoded = try AWSChunked.decode(request.body, mode: mode, signer: signer)
            if let expected = request.header("x-amz-decoded-content-length").flatMap(Int.init), expected != decoded.payload.count {
                throw AWSChunked.incomplete("x-amz-decoded-content-length is \(expected) but the chunks hold \(decoded.payload.count) bytes")
            }
            return (decoded.payload, decoded.trailers)
        }
        if declared == "UNSIGNED-PAYLOAD" { return (request.body, [:]) }
        guard declared.utf8.count == 64, Digest.bytes(hex: declared) != nil else {
            throw S3Error.invalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a SHA-256 hex digest")
        }
        let actual = Digest.sha256Hex(request.body)
        guard actual == declared.lowercased() else {
            throw S3Error(code: "XAmzContentSHA256Mismatch", status: 400, message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
                          details: ["ClientComputedContentSHA256": declared, "S3ComputedContentSHA256": actual])
        }
        return (request.body, [:])
    }

    static func xml(_ data: Data, status: Int = 200, headers: [(String, String)] = []) -> HTTPServer.Response {
        HTTPServer.Response(status: status, headers: [("Content-Type", "application/xml")] + headers, body: data)
    }
}
