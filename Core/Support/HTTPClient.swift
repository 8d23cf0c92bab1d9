import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP client over libcurl. One instance keeps one easy handle, so
/// connections are reused between requests (Runtime API polling, S3 part uploads).
/// Not thread-safe: give each thread its own.
public final class HTTPClient {
    public enum Body {
        case none
        case bytes(Data)
        /// `length` bytes of a file starting at `offset`, streamed: never read into memory whole.
        case file(path: String, offset: Int64, length: Int64)
    }

    public enum Sink {
        case memory
        /// Streams the body into a file (created or truncated) when the status is 2xx.
        case file(path: String)
        /// As `file`, except that a 206 (the answer to a `Range` request) appends to the file.
        case resumableFile(path: String)
    }

    /// For long downloads: follow redirects, no overall time limit, but give up on a transfer
    /// that stalls (under `minimumBytesPerSecond` for `stallSeconds`), and report progress.
    public struct Download {
        public var stallSeconds = 60
        public var minimumBytesPerSecond = 1024
        /// Called from the transfer with the bytes received so far in this answer and its
        /// Content-Length, when it gave one.
        public var progress: ((Int64, Int64?) -> Void)?
        public init(progress: ((Int64, Int64?) -> Void)? = nil) { self.progress = progress }
    }

    public struct Response {
        public var status: Int
        public var headers: [String: String]
        public var body: Data

        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    public struct AWSSigning: Sendable {
        public var accessKey: String
        public var secretKey: String
        public var region: String
        public var service: String
        public var sessionToken: String?
        public init(accessKey: String, secretKey: String, region: String, service: String, sessionToken: String? = nil) {
            self.accessKey = accessKey; self.secretKey = secretKey; self.region = region; self.service = service
            self.sessionToken = sessionToken
        }
    }

    private let handle: UnsafeMutableRawPointer

    public init() {
        CurlGlobal.initialize()
        handle = curl_easy_init()
    }

    deinit { curl_easy_cleanup(handle) }

    /// Performs one request. `timeout` of nil means no limit (the Runtime API's long poll).
    public func send(_ method: String, url: String, headers: [String: String] = [:], body: Body = .none,
                     sink: Sink = .memory, timeout: Double? = 60, signing: AWSSigning? = nil,
                     download: Download? = nil) throws(FunctionError) -> Response {
        curl_easy_reset(handle)
        let transfer = Transfer()
        defer { transfer.close() }

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        var allHeaders = headers
        // curl adds "Expect: 100-continue" to large uploads; a round trip we do not need. Removing
        // the header with an empty "Expect:" would make curl's SigV4 sign a header it never sends
        // (curl issue 11664; AWS refuses such requests), so signed requests keep it unsigned, as
        // AWS's SDKs do, and simply do not wait for the 100 (see expect_100_timeout below).
        if signing == nil { allHeaders["Expect"] = "" }
        if let token = signing?.sessionToken { allHeaders["x-amz-security-token"] = token }
        for (name, value) in allHeaders.sorted(by: { $0.key < $1.key }) {
            let line = value.isEmpty ? "\(name):" : "\(name): \(value)"
            headerList = curl_slist_append(headerList, line)
        }

        ccurl_set_string(handle, ccurl_opt_url, url)
        ccurl_set_long(handle, ccurl_opt_nosignal, 1)
        ccurl_set_long(handle, ccurl_opt_connecttimeout_ms, 10_000)
        if let timeout { ccurl_set_long(handle, ccurl_opt_timeout_ms, Int(timeout * 1000)) }
        if let download {
            ccurl_set_long(handle, ccurl_opt_followlocation, 1)
            ccurl_set_long(handle, ccurl_opt_maxredirs, 5)
            ccurl_set_long(handle, ccurl_opt_low_speed_limit, download.minimumBytesPerSecond)
            ccurl_set_long(handle, ccurl_opt_low_speed_time, download.stallSeconds)
            transfer.progress = download.progress
        }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        let context = Unmanaged.passUnretained(transfer).toOpaque()
        ccurl_set_write_function(handle, { buffer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receive(buffer!, size * count)
        }, context)
        ccurl_set_header_function(handle, { buffer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            transfer.receiveHeader(buffer!, size * count)
            return size * count
        }, context)

        switch body {
        case .none:
            if method == "HEAD" { ccurl_set_long(handle, ccurl_opt_nobody, 1) }
            else if method == "GET" { ccurl_set_long(handle, ccurl_opt_httpget, 1) }
            else {
                ccurl_set_long(handle, ccurl_opt_post, 1)
                ccurl_set_offset(handle, ccurl_opt_postfieldsize_large, 0)
                transfer.source = .bytes(Data(), 0)
                ccurl_set_read_function(handle, readCallback, context)
            }
        case .bytes(let data):
            ccurl_set_long(handle, ccurl_opt_upload, 1)
            ccurl_set_offset(handle, ccurl_opt_infilesize_large, curl_off_t(data.count))
            transfer.source = .bytes(data, 0)
            ccurl_set_read_function(handle, readCallback, context)
        case .file(let path, let offset, let length):
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw FunctionError.invalidInput("cannot open \(path): \(String(cString: strerror(errno)))") }
            lseek(fd, off_t(offset), SEEK_SET)
            transfer.source = .file(fd, length)
            ccurl_set_long(handle, ccurl_opt_upload, 1)
            ccurl_set_offset(handle, ccurl_opt_infilesize_large, curl_off_t(length))
            ccurl_set_read_function(handle, readCallback, context)
        }
        ccurl_set_string(handle, ccurl_opt_customrequest, method)

        switch sink {
        case .memory: break
        case .file(let path): transfer.sinkPath = path
        case .resumableFile(let path): transfer.sinkPath = path; transfer.appendsPartialContent = true
        }
        if let signing {
            ccurl_set_long(handle, ccurl_opt_expect_100_timeout_ms, 0)
            ccurl_set_string(handle, ccurl_opt_aws_sigv4, "aws:amz:\(signing.region):\(signing.service)")
            ccurl_set_string(handle, ccurl_opt_userpwd, "\(signing.accessKey):\(signing.secretKey)")
        }
        ccurl_set_headers(handle, headerList)

        let code = errorBuffer.withUnsafeMutableBufferPointer { buffer -> CURLcode in
            ccurl_set_pointer(handle, ccurl_opt_errorbuffer, buffer.baseAddress)
            return curl_easy_perform(handle)
        }
        if let failure = transfer.failure { throw failure }
        guard code == CURLE_OK else {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let reason = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw FunctionError.dependencyDown("\(method) \(redact(url)) failed: \(reason)")
        }
        var status = 0
        ccurl_get_response_code(handle, &status)
        return Response(status: status, headers: transfer.headers, body: transfer.body)
    }

    private func redact(_ url: String) -> String {
        url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
    }
}

private let readCallback: ccurl_io_callback = { buffer, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    return transfer.send(buffer!, size * count)
}

/// Per-request state reached from curl's C callbacks.
private final class Transfer {
    enum Source { case bytes(Data, Int), file(Int32, Int64) }
    var source: Source?
    var body = Data()
    var headers: [String: String] = [:]
    var status = 0
    var sinkPath: String?
    var sinkFD: Int32 = -1
    var appendsPartialContent = false
    var progress: ((Int64, Int64?) -> Void)?
    var received: Int64 = 0
    var failure: FunctionError?

    func receiveHeader(_ buffer: UnsafeMutablePointer<CChar>, _ length: Int) {
        let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: length), as: UTF8.self)
        if line.hasPrefix("HTTP/") {  // a new response (after 100-continue or a redirect)
            headers.removeAll()
            let parts = line.split(separator: " ")
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmed
        headers[name] = headers[name].map { "\($0), \(value)" } ?? value
    }

    func receive(_ buffer: UnsafeMutablePointer<CChar>, _ length: Int) -> Int {
        // Only a successful answer goes to the file; an error document stays in memory to be read.
        if let path = sinkPath, (200..<300).contains(status) {
            if sinkFD < 0 {
                let mode = appendsPartialContent && status == 206 ? O_APPEND : O_TRUNC
                sinkFD = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0o644)
                if sinkFD < 0 {
                    failure = FunctionError.internal("cannot write \(path): \(String(cString: strerror(errno)))")
                    return 0
                }
            }
            var written = 0
            while written < length {
                let n = write(sinkFD, buffer + written, length - written)
                if n <= 0 {
                    failure = FunctionError.internal("cannot write \(path): \(String(cString: strerror(errno)))")
                    return 0
                }
                written += n
            }
            received += Int64(length)
            progress?(received, headers["content-length"].flatMap { Int64($0) })
            return length
        }
        body.append(UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: length)
        return length
    }

    func send(_ buffer: UnsafeMutablePointer<CChar>, _ capacity: Int) -> Int {
        switch source {
        case .bytes(let data, let offset):
            let n = min(capacity, data.count - offset)
            if n > 0 {
                data.withUnsafeBytes { raw in
                    UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + offset, byteCount: n)
                }
            }
            source = .bytes(data, offset + n)
            return n
        case .file(let fd, let remaining):
            let n = read(fd, buffer, Int(min(Int64(capacity), remaining)))
            if n < 0 { return Int(CURL_READFUNC_ABORT) }
            source = .file(fd, remaining - Int64(n))
            return n
        case nil:
            return 0
        }
    }

    func close() {
        if sinkFD >= 0 { Glibc.close(sinkFD); sinkFD = -1 }
        if case .file(let fd, _) = source { Glibc.close(fd) }
    }
}

enum CurlGlobal {
    nonisolated(unsafe) private static var initialized = false
    static func initialize() {
        // curl_global_init is not thread-safe; the first client is made before any threads start.
        if !initialized { curl_global_init(Int(CURL_GLOBAL_DEFAULT)); initialized = true }
    }
}
