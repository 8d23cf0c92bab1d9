import Foundation
@testable import Core

/// Stands in for the Lambda Runtime API (the local runner's job in production): hands out
/// queued events on `invocation/next` and records what the function posts back.
final class RuntimeAPIStub: @unchecked Sendable {
    struct Posted { var path: String; var headers: [String: String]; var body: Data }

    let port: Int
    private let listener: Int32
    private let state = Mutex<(events: [(id: String, body: String)], posted: [Posted], waiting: Int)>(([], [], 0))

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        port = bindLoopback(listener)
        guard listen(listener, 16) == 0 else { throw TestSetupError("listen failed") }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { close(listener) }

    var address: String { "127.0.0.1:\(port)" }

    func enqueue(id: String, event: String) { state.withLock { $0.events.append((id, event)) } }

    /// Waits until `count` answers were posted (or the timeout passes).
    func posted(count: Int, timeout: Double = 20) -> [Posted] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let posted = state.withLock { $0.posted }
            if posted.count >= count { return posted }
            usleep(20_000)
        }
        return state.withLock { $0.posted }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        while let (method, path, headers, body) = readRequest(client) {
            if method == "GET" && path.hasSuffix("/runtime/invocation/next") {
                var next: (id: String, body: String)?
                while next == nil {  // long poll, as the real API does
                    next = state.withLock { $0.events.isEmpty ? nil : $0.events.removeFirst() }
                    if next == nil { usleep(10_000) }
                }
                let deadline = Int64(Date().timeIntervalSince1970 * 1000) + 30_000
                respond(client, status: 200, headers: [
                    "Lambda-Runtime-Aws-Request-Id": next!.id,
                    "Lambda-Runtime-Deadline-Ms": String(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:ingest",
                    "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
                ], body: Data(next!.body.utf8))
            } else {
                state.withLock { $0.posted.append(Posted(path: path, headers: headers, body: body)) }
                respond(client, status: 202, headers: [:], body: Data("{\"status\":\"OK\"}".utf8))
            }
        }
    }

    private func readRequest(_ fd: Int32) -> (String, String, [String: String], Data)? {
        var buffer = Data()
        var byte: UInt8 = 0
        while !buffer.ends(with: [13, 10, 13, 10]) {
            guard read(fd, &byte, 1) == 1 else { return nil }
            buffer.append(byte)
        }
        let lines = String(decoding: buffer, as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where line.contains(":") {
            let pieces = line.split(separator: ":", maxSplits: 1)
            headers[pieces[0].lowercased()] = pieces.count > 1 ? pieces[1].trimmingCharacters(in: .whitespaces) : ""
        }
        var body = Data()
        let length = Int(headers["content-length"] ?? "0") ?? 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while body.count < length {
            let n = read(fd, &chunk, min(chunk.count, length - body.count))
            if n <= 0 { return nil }
            body.append(contentsOf: chunk[0..<n])
        }
        return (String(parts[0]), String(parts[1]), headers, body)
    }

    private func respond(_ fd: Int32, status: Int, headers: [String: String], body: Data) {
        var text = "HTTP/1.1 \(status) OK\r\nContent-Length: \(body.count)\r\nContent-Type: application/json\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        var data = Data(text.utf8)
        data.append(body)
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

extension Data {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self.suffix(suffix.count)) == suffix }
}
