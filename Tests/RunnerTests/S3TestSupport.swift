import Foundation
import Testing
@testable import RunnerKit

/// A running S3Server on a free port with a fresh temporary root and made-up credentials.
final class S3Fixture {
    let server: S3Server
    let port: Int
    /// `<temporary>/root` is the server's root; the parent holds nothing else, so anything
    /// written outside the root shows up beside it.
    let parent: URL
    let root: URL
    let credentials: S3Credentials

    init(maximumRequestBody: Int = 512 << 20, minimumPartSize: Int64 = 5 << 20) throws {
        parent = FileManager.default.temporaryDirectory.appendingPathComponent("s3-test-\(ObjectStore.randomHex(6))")
        root = parent.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        credentials = S3Credentials(accessKeyID: "LRTEST" + ObjectStore.randomHex(7).uppercased(), secretAccessKey: ObjectStore.randomHex(20))
        server = S3Server(host: "127.0.0.1", port: 0, root: root, credentials: credentials,
                          maximumRequestBody: maximumRequestBody, minimumPartSize: minimumPartSize)
        port = try server.start()
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(at: parent)
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    func client(secret: String? = nil, accessKey: String? = nil) -> RawS3Client {
        RawS3Client(port: port, credentials: S3Credentials(accessKeyID: accessKey ?? credentials.accessKeyID, secretAccessKey: secret ?? credentials.secretAccessKey))
    }

    /// The environment for awscli and boto3 subprocesses.
    func environment(secret: String? = nil) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = credentials.accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = secret ?? credentials.secretAccessKey
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        environment["AWS_REGION"] = "us-east-1"
        environment["S3_ENDPOINT"] = endpoint
        // No shared config or credentials of the machine may leak in.
        environment["AWS_CONFIG_FILE"] = "/dev/null"
        environment["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        environment.removeValue(forKey: "AWS_SESSION_TOKEN")
        environment.removeValue(forKey: "AWS_PROFILE")
        return environment
    }

    /// Every path under the temporary parent that is not inside the root.
    func pathsOutsideRoot() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        return names.filter { $0 != "root" }
    }
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
}

/// Runs a program to completion (arguments, environment, optional stdin text).
func runProcess(_ arguments: [String], environment: [String: String], input: String? = nil, directory: URL? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = environment
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    let started = Date()
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try inPipe.fileHandleForWriting.close()
    // Read both pipes while the process runs (a full pipe would block it).
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let errHandle = err.fileHandleForReading
    let errThread = Thread { errBox.data = errHandle.readDataToEndOfFile() }
    errThread.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errThread.isFinished { usleep(1000) }
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errBox.data, as: UTF8.self), seconds: Date().timeIntervalSince(started))
}

/// Whether a command-line client is installed (tests that need it are skipped otherwise).
func hasProgram(_ name: String) -> Bool {
    (try? runProcess(["sh", "-c", "command -v \(name)"], environment: ProcessInfo.processInfo.environment).status) == 0
}

struct RawResponse {
    var status: Int
    var headers: [(String, String)]
    var body: Data

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }
    var errorCode: String? { S3XML.text("Code", in: text) }
}

/// A minimal SigV4-signing HTTP/1.1 client over a socket, to send what SDKs will not
/// (tampered requests, skewed clocks, hand-made aws-chunked bodies, raw `..` paths).
struct RawS3Client {
    var port: Int
    var credentials: S3Credentials
    var region = "us-east-1"

    static func amzDate(_ date: Date) -> String {
        let iso = HTTPDate.iso8601(date.timeIntervalSince1970)  // 2015-08-30T12:36:00.000Z
        return String(iso.prefix(19)).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "") + "Z"
    }

    /// Signs and sends. `payloadHash` defaults to the body's SHA-256; `signPath` signs a
    /// different path than the one sent (tampering).
    func send(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [], body: Data = Data(),
              payloadHash: String? = nil, date: Date = Date(), sign: Bool = true, signPath: String? = nil) throws -> RawResponse {
        let rawQuery = query.map { "\(SigV4.uriEncode($0.0))=\(SigV4.uriEncode($0.1))" }.joined(separator: "&")
        let signed = signedHeaders(method, signPath ?? path, query: query, headers: headers, payloadHash: payloadHash ?? Digest.sha256Hex(body), date: date, sign: sign)
        return try Self.exchange(port: port, method: method, target: path + (rawQuery.isEmpty ? "" : "?" + rawQuery), headers: signed.headers, body: body)
    }

    /// The request's headers with host, date, payload hash and (when `sign`) Authorization,
    /// and the signature (the seed of an aws-chunked body).
    func signedHeaders(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String,
                       date: Date = Date(), sign: Bool = true) -> (headers: [(String, String)], signature: String, amzDate: String) {
        let amzDate = Self.amzDate(date)
        var all = headers + [("host", "127.0.0.1:\(port)"), ("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash)]
        guard sign else { return (all, "", amzDate) }
        let names = Array(Set(all.map { $0.0.lowercased() })).sorted()
        let canonical = SigV4.canonicalRequest(method: method, uri: SigV4.canonicalURI(rawPath: path), query: SigV4.canonicalQuery(query),
                                               headers: SigV4.canonicalHeaders(names, in: all), signedHeaders: names, payloadHash: payloadHash)
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/s3/aws4_request"
        let key = SigV4.signingKey(secret: credentials.secretAccessKey, date: day, region: region, service: "s3")
        let signature = SigV4.signature(SigV4.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical), key: key)
        all.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"))
        return (all, signature, amzDate)
    }

    /// The seed-signature pieces for a hand-made aws-chunked body.
    func chunkSigner(amzDate: String, seedSignature: String) -> AWSChunked.Signer {
        let day = String(amzDate.prefix(8))
        return AWSChunked.Signer(amzDate: amzDate, scope: "\(day)/\(region)/s3/aws4_request",
                                 key: SigV4.signingKey(secret: credentials.secretAccessKey, date: day, region: region, service: "s3"), seedSignature: seedSignature)
    }

    /// One request on a fresh connection (`Connection: close`), the whole answer read.
    static func exchange(port: Int, method: String, target: String, headers: [(String, String)], body: Data) throws -> RawResponse {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        var head = "\(method) \(target) HTTP/1.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !headers.contains(where: { $0.0.lowercased() == "content-length" || $0.0.lowercased() == "transfer-encoding" }) {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "Connection: close\r\n\r\n"
        var request = Data(head.utf8)
        request.append(body)
        guard HTTPServer.sendAll(fd, request) else { throw RunnerError("send failed") }
        let data = readAll(fd)
        return try parse(data, method: method)
    }

    static func connectLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard fd >= 0, result == 0 else { close(fd); throw RunnerError("cannot connect to 127.0.0.1:\(port)") }
        return fd
    }

    static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    static func parse(_ data: Data, method: String) throws -> RawResponse {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw RunnerError("no HTTP head in \(data.count) bytes") }
        let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2, let status = Int(statusLine.split(separator: " ")[1]) else {
            throw RunnerError("bad status line")
        }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return RawResponse(status: status, headers: headers, body: Data(data[split.upperBound...]))
    }
}

/// Random bytes (fast enough for megabytes in a debug build).
func randomData(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        guard let words = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var index = 0
        while index + 8 <= count {
            var value = generator.next()
            withUnsafeBytes(of: &value) { bytes in for offset in 0..<8 { words[index + offset] = bytes[offset] } }
            index += 8
        }
        while index < count { words[index] = UInt8.random(in: 0...255, using: &generator); index += 1 }
    }
    return data
}
