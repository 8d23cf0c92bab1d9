import Foundation

/// A small blocking HTTP/1.1 server: one thread per connection up to a bound (see `Limits`),
/// keep-alive, Content-Length and chunked bodies, `Expect: 100-continue`, a body size limit,
/// timeouts on idle connections, headers and stalled bodies, and a strict parser. Enough for a
/// local gateway, the Runtime API and the S3 emulation, with no dependency to build.
final class HTTPServer: @unchecked Sendable {
    struct Request {
        var method: String
        var path: String
        var rawQuery: String
        var headers: [(String, String)]
        var body: Data
        var remoteAddress: String
        /// "HTTP/1.1" or "HTTP/1.0": 1.0 connections close after one answer unless they ask otherwise.
        var version = "HTTP/1.1"

        func header(_ name: String) -> String? {
            let values = headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
            return values.isEmpty ? nil : values.joined(separator: ",")
        }
    }

    struct Response {
        var status: Int
        var headers: [(String, String)] = []
        var body = Data()
        /// The Content-Length to announce instead of `body.count`, for an answer without a body
        /// that describes one (a HEAD answer carries the length a GET would send).
        var contentLength: Int? = nil

        static func json(_ status: Int, _ object: Any, headers: [(String, String)] = []) -> Response {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
            return Response(status: status, headers: [("Content-Type", "application/json")] + headers, body: data)
        }
    }

    /// How long the server waits, and how much it holds, for one connection. The defaults are
    /// what a local gateway needs; an attacker on the machine can hold no more than this.
    struct Limits: Sendable {
        /// Connections served at once. Past it, the connection idle for longest (waiting for a
        /// request, or still sending its header) is closed to make room, so slow or idle clients
        /// cannot lock everyone else out; when every connection is busy, the newcomer gets 503.
        var maximumConnections = 512
        /// The request line and headers, in bytes and in fields (431 past either).
        var maximumHeaderBytes = 64 * 1024
        var maximumHeaderFields = 200
        /// A keep-alive connection with no request is closed after this.
        var idleTimeout: Double = 60
        /// From a request's first byte to the end of its header (slowloris).
        var headerTimeout: Double = 10
        /// The longest a body may go without a byte arriving.
        var bodyStallTimeout: Double = 30
    }

    let host: String
    private(set) var port: Int
    let maximumBody: Int
    let limits: Limits
    let handler: @Sendable (Request) -> Response
    /// The answer to a body over `maximumBody` (the gateway's JSON 413 unless told otherwise:
    /// S3 answers with its own XML error).
    let tooLarge: @Sendable () -> Response
    /// Looks at a request before its body is read: an answer here is sent instead, and the
    /// body is never held (S3 authenticates from the headers first, as AWS does).
    let screen: (@Sendable (Request) -> Response?)?
    private var listener: Int32 = -1
    private let connections = ConnectionTable()

    init(host: String, port: Int, maximumBody: Int, limits: Limits = Limits(),
         tooLarge: @escaping @Sendable () -> Response = { Response.json(413, ["message": "Request Entity Too Large"]) },
         screen: (@Sendable (Request) -> Response?)? = nil,
         handler: @escaping @Sendable (Request) -> Response) {
        self.host = host
        self.port = port
        self.maximumBody = maximumBody
        self.limits = limits
        self.tooLarge = tooLarge
        self.screen = screen
        self.handler = handler
    }

    /// Connections open now (for tests and /health).
    var openConnections: Int { connections.count }

    /// Binds and starts accepting on a background thread; returns the bound port.
    @discardableResult
    func start() throws -> Int {
        let port = try bind()
        serve()
        return port
    }

    /// Binds and listens, and returns the port, without answering yet: connections wait in the
    /// backlog until `serve()` (the runner knows its address before it is ready to answer).
    func bind() throws -> Int {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw RunnerError("socket() failed") }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { close(listener); listener = -1; throw RunnerError("\(host) is not an IPv4 address") }
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(listener); listener = -1
            throw RunnerError("cannot listen on \(host):\(port): \(reason)")
        }
        guard listen(listener, 4096) == 0 else { close(listener); listener = -1; throw RunnerError("listen() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        return port
    }

    /// Starts accepting what `bind()` listens for.
    func serve() {
        let fd = listener
        connections.limits = limits
        connections.onReady = { [self] client, peer, received in
            let worker = Thread { [self] in serve(client, peer: peer, received: received) }
            worker.stackSize = 1 << 20
            worker.start()
        }
        connections.startPoller()
        let thread = Thread { [self] in
            while true {
                var peer = sockaddr_in()
                var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
                let client = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &peerLength) } }
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    // Out of descriptors or memory: wait for connections to close, keep serving.
                    if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000); continue }
                    connections.stopPoller()
                    return  // the listener was closed (stop())
                }
                var one: Int32 = 1
                setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                inet_ntop(AF_INET, &peer.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
                let remote = Peer(address: String(cString: text), port: Int(UInt16(bigEndian: peer.sin_port)))
                // No thread yet: the poller reads the request header, so idle, half-open and
                // slow connections cost a descriptor and a buffer, not a thread, and the accept
                // loop keeps up with a flood of them.
                guard connections.admit(client, peer: remote, limit: limits.maximumConnections) else {
                    HTTPServer.sendAll(client, Data("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
                    close(client)
                    continue
                }
            }
        }
        thread.start()
    }

    func stop() { if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)); close(listener); listener = -1 } }

    /// Where a connection comes from.
    struct Peer: Sendable {
        var address: String
        var port: Int
    }

    /// Decides, once per connection, whether this peer may talk to the server at all (the
    /// Runtime API endpoints admit only their own worker process).
    var admitPeer: (@Sendable (Peer, _ localPort: Int) -> Bool)?

    /// Serves requests on a connection whose header the poller has read (`received`), while
    /// they keep coming; a connection that goes quiet for a moment goes back to the poller and
    /// the thread ends.
    private func serve(_ fd: Int32, peer: Peer, received: [UInt8]) {
        var keep = false
        defer { if !keep { connections.release(fd); close(fd) } }
        if let admitPeer, !connections.isChecked(fd) {
            guard admitPeer(peer, port) else {
                write(fd, Response.json(403, ["message": "Forbidden: this endpoint serves only its own worker"]), keepAlive: false)
                // Read what it sent, so that closing does not reset the connection under the answer.
                shutdown(fd, Int32(SHUT_WR))
                drain(fd, 1 << 16, seconds: 1)
                return
            }
            connections.markChecked(fd)
        }
        var reader = Reader(fd: fd, limits: limits)
        reader.buffer = received
        while true {
            // The poller hands a connection over busy (its header has arrived); it becomes
            // evictable only while this thread waits for a request not yet begun.
            if reader.buffer.isEmpty { connections.mark(fd, busy: false) }
            let request: Request
            switch reader.readRequest(maximumBody: maximumBody, remote: peer.address, screen: screen, onHeader: { [connections] in connections.mark(fd, busy: true) }) {
            case .request(let parsed): request = parsed
            case .tooLarge(let remaining):
                drain(fd, remaining)
                write(fd, tooLarge(), keepAlive: false)
                return
            case .refused(let response, let remaining, let clientWaits):
                write(fd, response, keepAlive: false)
                // The client may already be sending the body: read some of it (into a fixed
                // buffer) so that it sees the answer rather than a reset.
                if !clientWaits { drain(fd, remaining, seconds: 2) }
                return
            case .malformed(let status, let message):
                write(fd, Response.json(status, ["message": message]), keepAlive: false)
                return
            case .closed:
                return
            }
            let connection = request.header("connection")?.lowercased()
            let keepAlive = request.version == "HTTP/1.0" ? connection == "keep-alive" : connection != "close"
            let response = handler(request)
            guard write(fd, response, keepAlive: keepAlive, headOnly: request.method == "HEAD"), keepAlive else { return }
            // A client that sends its next request at once (a load test, a worker's next
            // poll) keeps this thread; one that pauses goes back to the poller.
            if reader.buffer.isEmpty && !Reader.wait(fd, until: Reader.now() + 0.05) {
                keep = connections.rearm(fd)
                return
            }
        }
    }

    /// Reads and drops up to `remaining` bytes (at most 64 MiB, at most `seconds`).
    private func drain(_ fd: Int32, _ remaining: Int, seconds: Double = 10) {
        var left = min(remaining, 64 << 20)
        var sink = [UInt8](repeating: 0, count: 65536)
        let deadline = Reader.now() + seconds
        while left > 0, Reader.wait(fd, until: deadline) {
            let n = recv(fd, &sink, min(sink.count, left), 0)
            if n <= 0 { break }
            left -= n
        }
    }

    @discardableResult
    private func write(_ fd: Int32, _ response: Response, keepAlive: Bool, headOnly: Bool = false) -> Bool {
        var head = "HTTP/1.1 \(response.status) \(HTTPServer.reason(response.status))\r\n"
        // A header a function supplied with CR or LF in it would split the answer: it is dropped.
        for (name, value) in response.headers where name.lowercased() != "content-length"
            && !name.utf8.contains(where: { $0 == 13 || $0 == 10 }) && !value.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(response.contentLength ?? response.body.count)\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        // HEAD: the length a GET would send, never the body (it would corrupt the next answer).
        if headOnly { return HTTPServer.sendAll(fd, Data(head.utf8)) }
        // Small answers go out in one send; a large body is sent from its own storage rather
        // than copied behind the head (an S3 GET may be tens of megabytes).
        if response.body.count <= 65536 {
            var data = Data(head.utf8)
            data.append(response.body)
            return HTTPServer.sendAll(fd, data)
        }
        return HTTPServer.sendAll(fd, Data(head.utf8)) && HTTPServer.sendAll(fd, response.body)
    }

    static func sendAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return true }
            var offset = 0
            while offset < raw.count {
                let n = send(fd, base + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Payload Too Large"
        case 416: return "Range Not Satisfiable"
        case 431: return "Request Header Fields Too Large"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }

    /// Buffered, strict request reading on one connection. Anything a proxy in front could read
    /// differently is refused rather than guessed at: a space before a header's colon, folded
    /// header lines, Content-Length beside Transfer-Encoding, conflicting lengths.
    struct Reader {
        enum Outcome {
            case request(Request)
            case tooLarge(remaining: Int)
            /// The screen's answer; `clientWaits` when the client asked for 100-continue and so
            /// sends no body until told.
            case refused(Response, remaining: Int, clientWaits: Bool)
            case malformed(status: Int, message: String)
            case closed
        }
        let fd: Int32
        let limits: Limits
        var buffer: [UInt8] = []

        init(fd: Int32, limits: Limits) {
            self.fd = fd
            self.limits = limits
        }

        static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

        /// Waits for the socket to be readable; false when the deadline passed first.
        static func wait(_ fd: Int32, until deadline: Double) -> Bool {
            while true {
                let left = deadline - now()
                if left <= 0 { return false }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&entry, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
                if ready > 0 { return true }
                if ready < 0 && errno != EINTR { return false }
            }
        }

        mutating func fill(until deadline: Double) -> Bool {
            guard Self.wait(fd, until: deadline) else { return false }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }

        mutating func readRequest(maximumBody: Int, remote: String, screen: ((Request) -> Response?)? = nil, onHeader: () -> Void = {}) -> Outcome {
            // Idle until the first byte, then the whole header within its own timeout.
            if buffer.isEmpty && !fill(until: Self.now() + limits.idleTimeout) { return .closed }
            let headerDeadline = Self.now() + limits.headerTimeout
            var headerEnd: Int?
            var searched = 0
            while true {
                headerEnd = find([13, 10, 13, 10], from: max(0, searched - 3))
                if headerEnd != nil { break }
                searched = buffer.count
                if buffer.count > limits.maximumHeaderBytes { return .malformed(status: 431, message: "Request Header Fields Too Large") }
                if !fill(until: headerDeadline) { return .closed }
            }
            guard let headerEnd, headerEnd <= limits.maximumHeaderBytes else { return .malformed(status: 431, message: "Request Header Fields Too Large") }
            onHeader()
            let head = String(decoding: buffer[0..<headerEnd], as: UTF8.self)
            buffer.removeFirst(headerEnd + 4)
            var lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
            guard requestLine.count == 3, !requestLine[0].isEmpty, requestLine[0].allSatisfy(Self.isTokenCharacter), requestLine[1].hasPrefix("/") || requestLine[1] == "*" else {
                return .malformed(status: 400, message: "Bad Request: the request line must be METHOD /path HTTP/1.1")
            }
            guard requestLine[2] == "HTTP/1.1" || requestLine[2] == "HTTP/1.0" else {
                return .malformed(status: 505, message: "HTTP Version Not Supported: HTTP/1.1 and HTTP/1.0 only")
            }
            guard lines.count <= limits.maximumHeaderFields else { return .malformed(status: 431, message: "Request Header Fields Too Large: at most \(limits.maximumHeaderFields) fields") }
            var headers: [(String, String)] = []
            headers.reserveCapacity(lines.count)
            for line in lines {
                // The name is a token right up to the colon: "Content-Length : 5" or a folded
                // continuation line would be read differently by another parser (smuggling).
                guard let colon = line.firstIndex(of: ":"), colon != line.startIndex, line[..<colon].allSatisfy(Self.isTokenCharacter) else {
                    return .malformed(status: 400, message: "Bad Request: malformed header line")
                }
                headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            let target = String(requestLine[1])
            let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            var request = Request(method: String(requestLine[0]).uppercased(), path: String(parts[0]),
                                  rawQuery: parts.count > 1 ? String(parts[1]) : "", headers: headers, body: Data(), remoteAddress: remote,
                                  version: String(requestLine[2]))
            let lengths = headers.filter { $0.0.caseInsensitiveCompare("content-length") == .orderedSame }.map(\.1)
            let encodings = headers.filter { $0.0.caseInsensitiveCompare("transfer-encoding") == .orderedSame }.map(\.1)
            if !encodings.isEmpty && !lengths.isEmpty { return .malformed(status: 400, message: "Bad Request: Content-Length and Transfer-Encoding together") }
            if !encodings.isEmpty && (encodings.count > 1 || encodings[0].lowercased() != "chunked") {
                return .malformed(status: 501, message: "Not Implemented: Transfer-Encoding other than chunked")
            }
            var length = 0
            if let first = lengths.first {
                guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.count <= 15, first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let parsed = Int(first) else {
                    return .malformed(status: 400, message: "Bad Request: invalid Content-Length")
                }
                length = parsed
            }
            let chunked = !encodings.isEmpty
            // A client that asked to be told before sending the body (curl and botocore on PUT)
            // would otherwise wait about a second for an answer. A body already known to be too
            // large is refused before the client sends it.
            let expectsContinue = request.header("expect")?.lowercased() == "100-continue"
            if let screen, let answer = screen(request) {
                return .refused(answer, remaining: chunked ? maximumBody : max(0, length - buffer.count), clientWaits: expectsContinue)
            }
            if expectsContinue {
                if length > maximumBody { return .tooLarge(remaining: 0) }
                guard HTTPServer.sendAll(fd, Data("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else { return .closed }
            }
            if chunked {
                var body = [UInt8]()
                while true {
                    guard let sizeLine = readLine() else { return .closed }
                    guard let sizeLine = sizeLine else { return .malformed(status: 400, message: "Bad Request: chunk size line too long") }
                    let sizeText = sizeLine.split(separator: ";").first ?? ""
                    // Hex digits only: Int(_:radix:) would also take a sign ("-1").
                    let digits = sizeText.trimmingCharacters(in: .whitespaces)
                    guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy(\.isHexDigit), let size = Int(digits, radix: 16) else {
                        return .malformed(status: 400, message: "Bad Request: invalid chunk size")
                    }
                    if size == 0 {
                        // Trailer fields, up to the empty line that ends the message.
                        while true {
                            guard let trailer = readLine() else { return .closed }
                            guard let trailer = trailer else { return .malformed(status: 400, message: "Bad Request: trailer line too long") }
                            if trailer.isEmpty { break }
                        }
                        break
                    }
                    if size > maximumBody - body.count { return .tooLarge(remaining: 0) }
                    while buffer.count < size + 2 { if !fill(until: Self.now() + limits.bodyStallTimeout) { return .closed } }
                    guard buffer[size] == 13, buffer[size + 1] == 10 else { return .malformed(status: 400, message: "Bad Request: chunk not followed by CRLF") }
                    body.append(contentsOf: buffer[0..<size])
                    buffer.removeFirst(size + 2)
                }
                request.body = Data(body)
            } else if !lengths.isEmpty {
                if length > maximumBody {
                    let buffered = min(buffer.count, length)
                    buffer.removeFirst(buffered)
                    return .tooLarge(remaining: length - buffered)
                }
                guard let body = readBody(length: length) else { return .closed }
                request.body = body
            }
            return .request(request)
        }

        /// RFC 9110 token characters (header names, methods).
        static func isTokenCharacter(_ character: Character) -> Bool {
            guard let ascii = character.asciiValue, ascii > 32, ascii < 127 else { return false }
            return !"\"(),/:;<=>?@[\\]{}".utf8.contains(ascii)
        }

        /// Exactly `length` body bytes: what is buffered, then straight from the socket into the
        /// body's own storage (no growing buffer and no second copy of a large upload).
        mutating func readBody(length: Int) -> Data? {
            let buffered = min(buffer.count, length)
            var body = Data(count: length)
            body.replaceSubrange(0..<buffered, with: buffer[0..<buffered])
            buffer.removeFirst(buffered)
            var filled = buffered
            while filled < length {
                guard Self.wait(fd, until: Self.now() + limits.bodyStallTimeout) else { return nil }
                let n = body.withUnsafeMutableBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return 0 }
                    return recv(fd, base + filled, length - filled, 0)
                }
                if n <= 0 { return nil }
                filled += n
            }
            return body
        }

        /// One CRLF-terminated line of a chunked body: nil when the connection closed, .some(nil)
        /// when the line is longer than any honest chunk-size or trailer line (8 KiB).
        mutating func readLine() -> String?? {
            while true {
                if let end = find([13, 10]) {
                    let line = String(decoding: buffer[0..<end], as: UTF8.self)
                    buffer.removeFirst(end + 2)
                    return .some(line)
                }
                if buffer.count > 8192 { return .some(nil) }
                if !fill(until: Self.now() + limits.bodyStallTimeout) { return nil }
            }
        }

        func find(_ needle: [UInt8], from start: Int = 0) -> Int? {
            guard buffer.count >= needle.count else { return nil }
            var index = start
            while index + needle.count <= buffer.count {
                if buffer[index] == needle[0] {
                    var matched = true
                    for offset in 1..<needle.count where buffer[index + offset] != needle[offset] { matched = false; break }
                    if matched { return index }
                }
                index += 1
            }
            return nil
        }
    }
}

/// The server's open connections. Those waiting for a request sit in one poller thread (no
/// thread of their own); the poller hands a connection to a new thread when it has bytes, and
/// closes it when idle past the timeout. When the table is full, the connection waiting
/// longest (for a request, or for the rest of its header) is closed to make room; busy ones
/// (a request being answered) never are. A partial header does not renew a connection's
/// place: a flood that trickles bytes would otherwise push out clients that just arrived. A
/// connection whose request the poller has not yet read is never the one closed.
final class ConnectionTable: @unchecked Sendable {
    // @unchecked: every field is read and written only under `lock`; the callbacks and limits
    // are set before the poller starts.
    private struct Entry {
        var peer: HTTPServer.Peer
        var busy = false
        /// Waiting in the poller (no thread holds it).
        var armed = true
        /// The peer passed the server's admitPeer check.
        var checked = false
        var since: Double
        /// Its place in `order`: the latest ticket is the only one that counts.
        var ticket: UInt64 = 0
        /// What the poller has read of the next request so far, and when its first byte came.
        var received: [UInt8] = []
        var firstByte: Double?
    }

    private let lock = NSLock()
    private var open: [Int32: Entry] = [:]
    /// Shut down to make room while a thread held them, not yet closed by that thread.
    private var closing: Set<Int32> = []
    /// Connections that may be closed to make room, oldest first, as (descriptor, ticket);
    /// entries whose ticket is no longer the connection's are skipped. Under a flood the
    /// accept loop takes one from the front per connection, so this is a queue, not a scan.
    private var order: [(fd: Int32, ticket: UInt64)] = []
    private var orderHead = 0
    private var nextTicket: UInt64 = 0
    private var wakeRead: Int32 = -1, wakeWrite: Int32 = -1
    private var stopped = false
    /// A wake-up byte is in the pipe and the poller has not yet re-read the table: under a
    /// flood of connections one wake-up serves many admissions.
    private var wakePending = false
    var limits = HTTPServer.Limits()
    var onReady: ((Int32, HTTPServer.Peer, [UInt8]) -> Void)?

    var count: Int { lock.withLock { open.count - closing.count } }

    func startPoller() {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { return }
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
        _ = fcntl(wakeRead, F_SETFL, fcntl(wakeRead, F_GETFL) | O_NONBLOCK)
        _ = fcntl(wakeWrite, F_SETFL, fcntl(wakeWrite, F_GETFL) | O_NONBLOCK)
        let thread = Thread { [self] in poll() }
        thread.start()
    }

    func stopPoller() {
        lock.withLock { stopped = true }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    /// Registers a new connection, armed; false when the table is full of busy connections.
    func admit(_ fd: Int32, peer: HTTPServer.Peer, limit: Int) -> Bool {
        var shouldWake = false
        let admitted: Bool = lock.withLock {
            var spared = 0
            while open.count - closing.count >= limit {
                guard let oldest = takeOldest() else { return false }
                if oldest.armed && spared < 8 && (oldest.started || Self.hasUnreadBytes(oldest.fd)) {
                    // A request begun (part of its header read) or not read yet: the client is
                    // not idle, whatever its age, and closing it would reset a request in flight.
                    // It moves to the back.
                    enqueue(oldest.fd)
                    spared += 1
                    continue
                }
                if oldest.armed {
                    // Nobody holds it: closed here (the poller re-reads the table).
                    open.removeValue(forKey: oldest.fd)
                    close(oldest.fd)
                } else {
                    // Its thread wakes with end-of-file, closes it and calls release().
                    shutdown(oldest.fd, Int32(SHUT_RDWR))
                    closing.insert(oldest.fd)
                }
            }
            open[fd] = Entry(peer: peer, since: HTTPServer.Reader.now())
            enqueue(fd)
            shouldWake = claimWake()
            return true
        }
        if shouldWake { wake() }
        return admitted
    }

    func mark(_ fd: Int32, busy: Bool) {
        lock.withLock {
            guard open[fd] != nil else { return }
            open[fd]?.busy = busy
            open[fd]?.since = HTTPServer.Reader.now()
            if !busy { enqueue(fd) }
        }
    }

    func isChecked(_ fd: Int32) -> Bool { lock.withLock { open[fd]?.checked ?? false } }
    func markChecked(_ fd: Int32) { lock.withLock { open[fd]?.checked = true } }

    /// Back to the poller after a request; false when the connection was shut down meanwhile
    /// (the caller then closes it).
    func rearm(_ fd: Int32) -> Bool {
        var shouldWake = false
        let kept: Bool = lock.withLock {
            guard !stopped, open[fd] != nil, !closing.contains(fd) else { return false }
            open[fd]?.armed = true
            open[fd]?.busy = false
            open[fd]?.since = HTTPServer.Reader.now()
            open[fd]?.received = []
            open[fd]?.firstByte = nil
            enqueue(fd)
            shouldWake = claimWake()
            return true
        }
        if shouldWake { wake() }
        return kept
    }

    /// Called by the connection's thread just before it closes the descriptor.
    func release(_ fd: Int32) {
        lock.withLock {
            open.removeValue(forKey: fd)
            closing.remove(fd)
        }
    }

    /// True when the caller must write the wake-up byte: none is pending. Called with the lock held.
    private func claimWake() -> Bool {
        defer { wakePending = true }
        return !wakePending
    }

    /// Puts a connection at the back of the eviction queue. Called with the lock held.
    private func enqueue(_ fd: Int32) {
        nextTicket += 1
        open[fd]?.ticket = nextTicket
        order.append((fd, nextTicket))
        // Stale entries (connections closed, busy or moved back since) are dropped now and
        // then, so the queue stays in proportion to the table.
        if order.count - orderHead > 4 * open.count + 1024 {
            order = order[orderHead...].filter { open[$0.fd]?.ticket == $0.ticket }
            orderHead = 0
        } else if orderHead > 4096 && orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }

    /// The connection that has waited longest among those that may be closed (not busy, not
    /// already closing), taken off the queue. Called with the lock held.
    private func takeOldest() -> (fd: Int32, armed: Bool, started: Bool)? {
        while orderHead < order.count {
            let (fd, ticket) = order[orderHead]
            orderHead += 1
            guard let entry = open[fd], entry.ticket == ticket, !entry.busy, !closing.contains(fd) else { continue }
            return (fd, entry.armed, entry.firstByte != nil)
        }
        return nil
    }

    /// Closes an armed connection. Called with the lock held.
    private func drop(_ fd: Int32) {
        open.removeValue(forKey: fd)
        close(fd)
    }

    private func poll() {
        var drained = [UInt8](repeating: 0, count: 256)
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let isStopped: Bool = lock.withLock {
                wakePending = false  // what is admitted from now on wakes the poller again
                fds.reserveCapacity(open.count + 1)
                for (fd, entry) in open where entry.armed { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
                return stopped
            }
            if isStopped { break }
            let ready = Glibc.poll(&fds, nfds_t(fds.count), 1000)
            if ready < 0 && errno != EINTR { usleep(1000) }
            if fds[0].revents != 0 { while Glibc.read(wakeRead, &drained, drained.count) > 0 {} }
            let now = HTTPServer.Reader.now()
            var handOff: [(Int32, HTTPServer.Peer, [UInt8])] = []
            lock.withLock {
                for entry in fds.dropFirst() {
                    // The table decides: a descriptor closed and reused since the array was
                    // built is whatever the table now says it is.
                    guard var state = open[entry.fd], state.armed else { continue }
                    if entry.revents != 0 {
                        let n = recv(entry.fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
                        if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { drop(entry.fd); continue }
                        var complete = false
                        if n > 0 {
                            if state.firstByte == nil { state.firstByte = now }
                            // Only the new bytes (and the three before them) are searched, so
                            // a header sent a byte at a time costs linear work.
                            let searchFrom = max(0, state.received.count - 3)
                            state.received.append(contentsOf: chunk[0..<n])
                            complete = Self.hasHeaderEnd(state.received, from: searchFrom)
                        }
                        // A whole header (or more than a header may be) goes to a thread.
                        if complete || state.received.count > limits.maximumHeaderBytes {
                            state.armed = false
                            state.busy = true  // until its thread has served what arrived
                            handOff.append((entry.fd, state.peer, state.received))
                            state.received = []
                        }
                        open[entry.fd] = state
                    } else if let first = state.firstByte, now - first > limits.headerTimeout {
                        drop(entry.fd)  // a header sent too slowly
                    } else if state.firstByte == nil && now - state.since > limits.idleTimeout {
                        drop(entry.fd)
                    }
                }
            }
            for (fd, peer, received) in handOff { onReady?(fd, peer, received) }
        }
        lock.withLock {
            for (fd, entry) in open where entry.armed { drop(fd) }
        }
    }

    private static func hasUnreadBytes(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
    }

    static func hasHeaderEnd(_ bytes: [UInt8], from start: Int) -> Bool {
        guard bytes.count >= start + 4 else { return false }
        for index in start...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return true
        }
        return false
    }
}
