import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `mlflow server` as a child of the runner, as PostgreSQL is: its runs and registry in SQLite
/// under the data directory, its artifacts in the runner's own S3 (through its artifact proxy,
/// with the runner's generated credentials), bound to the runner's host, stopped with it.
///
/// Foundation starts it as the leader of a process group of its own, so signalling that
/// group stops the web workers it forks too. Started in the background: the gateway does not wait for it, and runs trained
/// before it answers are mirrored by the catch-up `onReady` triggers.
final class ManagedMLflow: @unchecked Sendable {
    let url: String
    let logFile: URL
    private let process = Process()

    /// Whether `mlflow` is on PATH (then the runner starts it unless told not to).
    static var installed: Bool { executable != nil }

    static var executable: String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/mlflow"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    init(dataDirectory: URL, host: String, port: Int, bucket: String, s3Endpoint: String, credentials: S3Credentials) throws {
        guard let mlflow = Self.executable else { throw RunnerError("--mlflow: no mlflow command on PATH; install it with `pip install mlflow`") }
        let directory = dataDirectory.appendingPathComponent("mlflow")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        logFile = directory.appendingPathComponent("server.log")
        let address = host == "0.0.0.0" ? "127.0.0.1" : host
        url = "http://\(address):\(port)"
        process.executableURL = URL(fileURLWithPath: mlflow)
        process.arguments = ["server",
                             "--backend-store-uri", "sqlite:///\(directory.appendingPathComponent("mlflow.db").path)",
                             "--artifacts-destination", "s3://\(bucket)/mlflow",
                             "--host", host, "--port", String(port), "--workers", "1"]
        var environment = ProcessInfo.processInfo.environment
        environment["MLFLOW_S3_ENDPOINT_URL"] = s3Endpoint
        environment["AWS_ACCESS_KEY_ID"] = credentials.accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = credentials.secretAccessKey
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        environment.removeValue(forKey: "AWS_SESSION_TOKEN")
        environment.removeValue(forKey: "MLFLOW_TRACKING_URI")
        // No background job runners (GenAI evaluation): this server only tracks and registers.
        environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        process.environment = environment
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
    }

    /// Starts the server; `onReady` runs on a background thread once `/health` answers.
    func start(onReady: @escaping @Sendable () -> Void) throws {
        try process.run()
        let url = self.url, process = self.process
        Thread {
            let deadline = Date().addingTimeInterval(300)
            while Date() < deadline && process.isRunning {
                if Self.healthy(url) { onReady(); return }
                usleep(250_000)
            }
            LocalRunner.say("MLflow did not come up at \(url); see \(self.logFile.path)")
        }.start()
    }

    static func healthy(_ url: String) -> Bool {
        guard let endpoint = URL(string: url + "/health") else { return false }
        var request = URLRequest(url: endpoint)
        request.timeoutInterval = 2
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var ok = false
        URLSession.shared.dataTask(with: request) { _, response, _ in
            ok = (response as? HTTPURLResponse)?.statusCode == 200
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 3)
        return ok
    }

    /// SIGTERM to its whole process group, then SIGKILL after 10 s.
    func stop() {
        guard process.isRunning else { return }
        let group = process.processIdentifier
        kill(-group, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        kill(-group, SIGKILL)
        process.waitUntilExit()
    }
}
