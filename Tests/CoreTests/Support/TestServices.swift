import Foundation
import Testing
@testable import Core

/// The real parts tests need: PostgreSQL (started by Tests/run, one fresh database per test)
/// and moto_server (an independent S3 implementation, started here once per test process).
enum TestServices {
    static var adminURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["MOVIEREC_TEST_PG_ADMIN"] else {
                throw TestSetupError("MOVIEREC_TEST_PG_ADMIN is not set: run the suite with `bash Tests/run`, which starts PostgreSQL")
            }
            return url
        }
    }

    /// A new empty database; its URL.
    static func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        let admin = try Database(url: try adminURL)
        try admin.execute("CREATE DATABASE \(name)")
        return try adminURL.replacingOccurrences(of: "postgresql:///postgres", with: "postgresql:///\(name)")
    }

    /// A new database with the schema applied, connected.
    static func migratedDatabase() throws -> (Database, String) {
        let url = try makeDatabase()
        let database = try Database(url: url)
        try Migrations.apply(to: database)
        return (database, url)
    }

    static let moto: Result<String, Error> = Result { try MotoServer.start() }

    static func s3Configuration() throws -> S3Configuration {
        S3Configuration(endpoint: try moto.get(), region: "us-east-1", accessKey: credentials.key, secretKey: credentials.secret)
    }

    static func s3Client() throws -> S3Client { S3Client(try s3Configuration()) }

    /// Made up per test process: moto accepts any signature, and none ships with the code.
    static let credentials = (key: "test-" + UUID().uuidString.prefix(8).lowercased(), secret: UUID().uuidString)

    /// The S3 client as the functions' `storage` closures want it (typed throws).
    static func storage() throws(FunctionError) -> S3Client {
        do { return try s3Client() } catch { throw FunctionError.dependencyDown("moto_server: \(error)") }
    }

    static func freshBucket(_ client: S3Client) throws -> String {
        let bucket = "b-" + UUID().uuidString.lowercased().prefix(13)
        try client.createBucket(bucket)
        return bucket
    }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "movierec-test-" + UUID().uuidString
        // A directory under /tmp that cannot be made fails the test at its first use, with the path.
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum MotoServer {
    static func start() throws -> String {
        let port = freePort()
        let process = Process()
        // The server lives only as long as this test process, however that ends, and is killed
        // with SIGKILL: moto_server can ignore SIGTERM and SIGINT (two were left after CI runs).
        let watch = """
            moto_server -H 127.0.0.1 -p \(port) & server=$!
            trap 'kill -9 $server 2>/dev/null' EXIT TERM INT
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done
            """
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", watch]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        atexit { MotoServer.stopAll() }
        running.withLock { $0.append(process) }
        let endpoint = "http://127.0.0.1:\(port)"
        for _ in 0..<150 {
            if (try? HTTPClient().send("GET", url: endpoint + "/", timeout: 1))?.status == 200 { return endpoint }
            usleep(100_000)
        }
        throw TestSetupError("moto_server did not start on port \(port); install it with `pip install 'moto[server]'`")
    }

    nonisolated(unsafe) static var running = Mutex<[Process]>([])
    static func stopAll() { running.withLock { $0.forEach { $0.terminate() } } }
}

/// A tiny lock for test bookkeeping.
final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    return bindLoopback(fd)
}

/// Binds `fd` to 127.0.0.1 on a port the system picks; returns the port.
func bindLoopback(_ fd: Int32) -> Int {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs a built function executable the way a caller would.
struct FunctionProcess {
    struct Outcome {
        var status: Int32
        var stdout: Data
        var stderr: String
        var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: stdout) }
    }

    static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["MOVIEREC_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        // The test bundle sits in the same build folder as the executables.
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("ingest").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url
    }

    static func launch(_ name: String, environment: [String: String]) throws -> (Process, Pipe, Pipe, Pipe) {
        var env = environment
        if env["AWS_LAMBDA_RUNTIME_API"] == nil { env["AWS_LAMBDA_RUNTIME_API"] = "" }  // direct mode unless asked
        return try startPiped(binDirectory.appendingPathComponent(name), [], environment: env)
    }

    /// Direct mode: one event on stdin, one answer on stdout.
    static func run(_ name: String, event: String, environment: [String: String] = [:]) throws -> Outcome {
        let (process, input, output, errors) = try launch(name, environment: environment)
        input.fileHandleForWriting.write(Data(event.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
    }
}

/// Builds an API Gateway HTTP API payload 2.0 event, as the gateway would.
func apiGatewayEvent(_ method: String, _ path: String, query: [String: String] = [:], body: String? = nil, base64: Bool = false) -> String {
    var event: [String: Any] = [
        "version": "2.0",
        "routeKey": "\(method) \(path)",
        "rawPath": path,
        "rawQueryString": query.map { "\($0.key)=\($0.value)" }.joined(separator: "&"),
        "headers": ["content-type": "application/json", "user-agent": "tests"],
        "requestContext": [
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
            "requestId": UUID().uuidString, "routeKey": "\(method) \(path)", "stage": "$default",
            "time": "27/Nov/2026:01:00:00 +0000", "timeEpoch": 1795741200000,
            "http": ["method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tests"],
        ],
        "isBase64Encoded": base64,
    ]
    if !query.isEmpty { event["queryStringParameters"] = query }
    if let body { event["body"] = base64 ? Data(body.utf8).base64EncodedString() : body }
    return String(decoding: (try? JSONSerialization.data(withJSONObject: event)) ?? Data(), as: UTF8.self)
}

extension JSONValue {
    var int: Int? { if case .number(let n) = self { return Int(n) }; return nil }
    var double: Double? { if case .number(let n) = self { return n }; return nil }
    var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
}

/// Runs a command found on PATH (aws, python3, ...) with extra environment; its exit status and
/// what it printed (stdout, then stderr).
func runCommand(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> (status: Int32, output: String, errors: String) {
    let (process, stdin, output, errors) = try startPiped(URL(fileURLWithPath: "/usr/bin/env"), arguments, environment: environment)
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    // Read both pipes at once: a child that fills one while we wait on the other would block.
    let errorData = Mutex(Data())
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errorData.withLock { $0 = errors.fileHandleForReading.readDataToEndOfFile() } }
    let out = output.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: errorData.withLock { $0 }, as: UTF8.self))
}

/// Starts a program with our environment plus `environment` (an empty value removes a
/// variable), its three standard streams on pipes.
func startPiped(_ executable: URL, _ arguments: [String], environment: [String: String]) throws -> (Process, Pipe, Pipe, Pipe) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value.isEmpty ? nil : value }
    process.environment = env
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    return (process, input, output, errors)
}
