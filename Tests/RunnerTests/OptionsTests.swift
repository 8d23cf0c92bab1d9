import Testing
@testable import RunnerKit

@Suite struct OptionsTests {
    @Test func defaultsBindLoopback() throws {
        let options = try Options.parse([])
        #expect(options.host == "127.0.0.1")
        #expect(options.port == 8080)
        #expect(options.s3Port == 9000)
        #expect(options.dataDirectory == ".local-runner")
    }

    @Test func credentialsIsASubcommand() throws {
        let options = try Options.parse(["credentials", "--data-dir", "/tmp/x"])
        #expect(options.printCredentials)
        #expect(options.dataDirectory == "/tmp/x")
    }

    @Test func badValuesSayWhatIsWrong() {
        #expect(throws: RunnerError.self) { try Options.parse(["--port", "99999"]) }
        #expect(throws: RunnerError.self) { try Options.parse(["--demo-ratings", "-5"]) }
        #expect(throws: RunnerError.self) { try Options.parse(["--port"]) }
        #expect(throws: RunnerError.self) { try Options.parse(["--bogus"]) }
    }
}
