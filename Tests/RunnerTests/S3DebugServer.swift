import Foundation
import Testing
@testable import RunnerKit

/// Not a test: with S3_DEBUG_SERVER_SECONDS set, serves an S3Fixture that long and writes its
/// endpoint and credentials to $TMPDIR/s3-debug-server.env, for poking at the server by hand.
@Suite struct S3DebugServer {
    static let seconds = ProcessInfo.processInfo.environment["S3_DEBUG_SERVER_SECONDS"].flatMap(Double.init)

    @Test(.enabled(if: seconds != nil)) func serveForDebugging() throws {
        let fixture = try S3Fixture()
        let line = "export S3_ENDPOINT=\(fixture.endpoint) AWS_ACCESS_KEY_ID=\(fixture.credentials.accessKeyID) AWS_SECRET_ACCESS_KEY=\(fixture.credentials.secretAccessKey)\n"
        try Data(line.utf8).write(to: fixture.parent.deletingLastPathComponent().appendingPathComponent("s3-debug-server.env"))
        Thread.sleep(forTimeInterval: Self.seconds ?? 0)
    }
}
