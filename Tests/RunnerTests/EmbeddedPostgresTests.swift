import Foundation
import Testing
@testable import RunnerKit

/// The private PostgreSQL of a data directory: created on first start, reachable only through
/// its unix socket, reused on the next start, stopped cleanly.
@Suite struct EmbeddedPostgresTests {
    func psql(_ postgres: EmbeddedPostgres, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = postgres.binaries.appendingPathComponent("psql")
        process.arguments = ["-X", "-q", "-t", "-A", postgres.url, "-c", sql]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw RunnerError("psql: \(text)") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func startsFromNothingAndAgain() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("embedded-pg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let postgres = try EmbeddedPostgres(directory: directory)
        try postgres.start()
        defer { postgres.stop() }
        #expect(try psql(postgres, "SELECT current_database()") == "movierec")
        #expect(try psql(postgres, "SHOW listen_addresses") == "", "no TCP listener")
        _ = try psql(postgres, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        var info = stat()
        stat(postgres.socketDirectory.path, &info)
        #expect(info.st_mode & 0o077 == 0, "the socket directory is private")

        postgres.stop()
        #expect(throws: (any Error).self) { try psql(postgres, "SELECT 1") }
        // A second start reuses the cluster: the data is still there.
        try postgres.start()
        #expect(try psql(postgres, "SELECT x FROM kept") == "42")
    }
}

extension EmbeddedPostgresTests {
    /// `--data-dir "$(mktemp -d)"` (mode 0700, owned by root): as root the server runs as
    /// postgres, which cannot enter it. The runner either lets postgres through (setfacl) or
    /// says exactly what to run.
    @Test func aPrivateDataDirectoryWorksOrSaysTheFix() throws {
        guard getuid() == 0 else { return }
        var template = Array("/tmp/embedded-pg-private-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template))
        let directory = URL(fileURLWithPath: String(cString: made))
        defer { try? FileManager.default.removeItem(at: directory) }
        chmod(directory.path, 0o700)
        let postgres = try EmbeddedPostgres(directory: directory)
        do {
            try postgres.start()
            defer { postgres.stop() }
            #expect(try psql(postgres, "SELECT 1") == "1")
        } catch {
            let message = "\(error)"
            #expect(message.contains("chmod o+x '\(directory.path)'"), "\(message)")
            #expect(!message.contains("Permission denied"), "the fix, not initdb's complaint: \(message)")
        }
    }
}
