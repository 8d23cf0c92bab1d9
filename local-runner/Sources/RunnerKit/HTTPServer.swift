import Foundation

/// A small blocking HTTP/1.1 server: one thread per connection, keep-alive, Content-Length
/// and chunked bodies, `Expect: 100-continue`, a body size limit. Enough for a local gateway,
/// the Runtime API and the S3 emulation, with no dependency to build.
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

    let host: String
    private(set) var port: Int
    let maximumBody: Int
    let handler: @Sendable (Request) -> Response
    /// The answer to a body over `maximumBody` (the gateway's JSON 413 unless told otherwise:
    /// S3 answers with its own XML error).
    let tooLarge: @Sendable () -> Response
    private var listener: Int32 = -1

    init(host: String, port: Int, maximumBody: Int,
         tooLarge: @escaping @Sendable () -> Response = { Response.json(413, ["message": "Request Entity Too Large"]) },
         handler: @escaping @Sendable (Request) -> Response) {
        self.host = host
        self.port = port
        self.maximumBody = maximumBody
        self.tooLarge = tooLarge
        self.handler = handler
    }

    /// Binds and starts accepting on a background thread; returns the bound port.
    @discardableResult
    func start() throws -> Int {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw RunnerError("socket() failed") }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { close(listener); listener = -1; throw RunnerError("\(host) is not an IPv4 address") }
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(listener); listener = -1
            throw RunnerError("cannot listen on \(host):\(port): \(reason)")
        }
        guard listen(listener, 512) == 0 else { close(listener); listener = -1; throw RunnerError("listen() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        let fd = listener
        let thread = Thread { [self] in
            while true {
                var peer = sockaddr_in()
                var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
                let client = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &peerLength) } }
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    // Out of descriptors or memory: wait for connections to close, keep serving.
                    if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000); continue }
                    return  // the listener was closed (stop())
                }
                var one: Int32 = 1
                setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                // A connection silent for 5 minutes is closed: idle keep-alive clients cannot
                // pile up threads and descriptors for ever.
                var idle = timeval(tv_sec: 300, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &idle, socklen_t(MemoryLayout<timeval>.size))
                var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                inet_ntop(AF_INET, &peer.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
                let remote = String(cString: text)
                let worker = Thread { [self] in serve(client, remote: remote) }
                worker.stackSize = 1 << 20
                worker.start()
            }
        }
        thread.start()
        return port
    }

    func stop() { if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)); close(listener); listener = -1 } }

    private func serve(_ fd: Int32, remote: String) {
        defer { close(fd) }
        var reader = Reader(fd: fd)
        while true {
            let request: Request
            switch reader.readRequest(maximumBody: maximumBody, remote: remote) {
            case .request(let parsed): request = parsed
            case .tooLarge(let remaining):
                // Read what the client is still sending (up to a bound) so that it sees the 413.
                var left = min(remaining, 64 << 20)
                var sink = [UInt8](repeating: 0, count: 65536)
                while left > 0 {
                    let n = recv(fd, &sink, min(sink.count, left), 0)
                    if n <= 0 { break }
                    left -= n
                }
                write(fd, tooLarge(), keepAlive: false)
                return
            case .malformed:
                write(fd, Response.json(400, ["message": "Bad Request"]), keepAlive: false)
                return
            case .closed:
                return
            }
            let connection = request.header("connection")?.lowercased()
            let keepAlive = request.version == "HTTP/1.0" ? connection == "keep-alive" : connection != "close"
            let response = handler(request)
            guard write(fd, response, keepAlive: keepAlive, headOnly: request.method == "HEAD"), keepAlive else { return }
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
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status"
        }
    }

    /// Buffered request reading on one connection.
    struct Reader {
        enum Outcome { case request(Request), tooLarge(remaining: Int), malformed, closed }
        let fd: Int32
        var buffer: [UInt8] = []

        init(fd: Int32) { self.fd = fd }

        mutating func fill() -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }

        mutating func readRequest(maximumBody: Int, remote: String) -> Outcome {
            var headerEnd: Int?
            while headerEnd == nil {
                headerEnd = find([13, 10, 13, 10])
                if headerEnd == nil {
                    if buffer.count > 64 * 1024 { return .malformed }
                    if !fill() { return .closed }
                }
            }
            let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
            buffer.removeFirst(headerEnd! + 4)
            var lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.removeFirst().split(separator: " ")
            guard requestLine.count >= 2 else { return .malformed }
            var headers: [(String, String)] = []
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            let target = String(requestLine[1])
            let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            var request = Request(method: String(requestLine[0]).uppercased(), path: String(parts[0]),
                                  rawQuery: parts.count > 1 ? String(parts[1]) : "", headers: headers, body: Data(), remoteAddress: remote,
                                  version: requestLine.count > 2 ? String(requestLine[2]) : "HTTP/1.0")
            // A client that asked to be told before sending the body (curl and botocore on PUT)
            // would otherwise wait about a second for an answer. A body already known to be too
            // large is refused before the client sends it.
            let expectsContinue = request.header("expect")?.lowercased() == "100-continue"
            if expectsContinue {
                if let length = request.header("content-length").flatMap(Int.init), length > maximumBody {
                    return .tooLarge(remaining: 0)
                }
                guard HTTPServer.sendAll(fd, Data("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else { return .closed }
            }
            if request.header("transfer-encoding")?.lowercased().contains("chunked") == true {
                var body = [UInt8]()
                while true {
                    guard let sizeLine = readLine() else { return .closed }
                    guard let sizeLine = sizeLine else { return .malformed }
                    let sizeText = sizeLine.split(separator: ";").first ?? ""
                    // Hex digits only: Int(_:radix:) would also take a sign ("-1").
                    let digits = sizeText.trimmingCharacters(in: .whitespaces)
                    guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy(\.isHexDigit), let size = Int(digits, radix: 16) else { return .malformed }
                    if size == 0 {
                        // Trailer fields, up to the empty line that ends the message.
                        while true {
                            guard let trailer = readLine() else { return .closed }
                            guard let trailer = trailer else { return .malformed }
                            if trailer.isEmpty { break }
                        }
                        break
                    }
                    if size > maximumBody - body.count { return .tooLarge(remaining: 0) }
                    while buffer.count < size + 2 { if !fill() { return .closed } }
                    guard buffer[size] == 13, buffer[size + 1] == 10 else { return .malformed }
                    body.append(contentsOf: buffer[0..<size])
                    buffer.removeFirst(size + 2)
                }
                request.body = Data(body)
            } else if let lengthText = request.header("content-length") {
                guard let length = Int(lengthText), length >= 0 else { return .malformed }
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

        /// Exactly `length` body bytes: what is buffered, then straight from the socket into the
        /// body's own storage (no growing buffer and no second copy of a large upload).
        mutating func readBody(length: Int) -> Data? {
            let buffered = min(buffer.count, length)
            var body = Data(count: length)
            body.replaceSubrange(0..<buffered, with: buffer[0..<buffered])
            buffer.removeFirst(buffered)
            var filled = buffered
            while filled < length {
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
                if !fill() { return nil }
            }
        }

        func find(_ needle: [UInt8]) -> Int? {
            guard buffer.count >= needle.count else { return nil }
            var index = 0
            while index + needle.count <= buffer.count {
                if buffer[index] == needle[0] && Array(buffer[index..<index + needle.count]) == needle { return index }
                index += 1
            }
            return nil
        }
    }
}
