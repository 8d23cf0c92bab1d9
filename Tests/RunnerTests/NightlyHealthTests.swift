import Core
import Foundation
import Testing
@testable import RunnerKit

/// The template's nightly state machine, run by the scheduler on the real function binaries:
/// when the health step fails (here: the artifact store is unreachable), the run stops with the
/// reason and nothing is generated or trained.
@Suite struct NightlyHealthTests {
    static var binDirectory: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("ingest").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url
    }

    /// One direct-mode invocation of a function binary, as Step Functions' lambda:invoke sees it.
    static func invoke(_ function: String, _ payload: Data, environment: [String: String]) -> Invocation.Outcome {
        let name = function.replacingOccurrences(of: "Function", with: "").lowercased()
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent(name)
        process.environment = environment
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return .crashed("cannot start \(name): \(error)") }
        input.fileHandleForWriting.write(payload)
        try? input.fileHandleForWriting.close()
        let answer = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? .response(answer) : .functionError(answer, type: "Unhandled")
    }

    @Test func aFailedHealthStepStopsTheRunBeforeAnythingIsGenerated() throws {
        let admin = try #require(ProcessInfo.processInfo.environment["MOVIEREC_TEST_PG_ADMIN"], "Tests/run starts a PostgreSQL")
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try Database(url: admin).execute("CREATE DATABASE \(name)")
        let url = admin.replacingOccurrences(of: "postgresql:///postgres", with: "postgresql:///\(name)")
        let database = try Database(url: url)
        try Migrations.apply(to: database)
        try database.execute("INSERT INTO movies (movie_id, title, genres) VALUES (1, 'One', 'Drama'), (2, 'Two', 'Comedy')")
        try database.execute("INSERT INTO users (user_id) VALUES (1)")
        try database.execute("INSERT INTO ratings (user_id, movie_id, rating, \"timestamp\") VALUES (1, 1, 4, 1700000000)")

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let template = try Template.load(root.appendingPathComponent("template/template.yaml").path)
        let nightly = try #require(template.jobs.first { $0.name == "nightly" })
        // Storage that cannot answer: port 9 (discard) on loopback is closed.
        let environment = ["DATABASE_URL": url, "ARTIFACT_BUCKET": "movierec-artifacts", "S3_ENDPOINT_URL": "http://127.0.0.1:9",
                           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "PATH": "/usr/bin:/bin"]
        let scheduler = try Scheduler(jobs: [nightly], historyFile: nil) { Self.invoke($0, $1, environment: environment) }
        let id = try #require(scheduler.trigger("nightly").runID)
        var run: ScheduleRun?
        for _ in 0..<600 {
            if let current = scheduler.run(id), current.status != "running" { run = current; break }
            usleep(50_000)
        }
        let finished = try #require(run)
        #expect(finished.status == "failed")
        #expect(finished.steps.map(\.name) == ["HealthCheck", "GenerateRatings", "Retrain"])
        #expect(finished.steps.map(\.status) == ["failed", "skipped", "skipped"])
        #expect(finished.steps[0].error?.contains("storage") == true, "\(finished.steps[0].error ?? "")")
        #expect(try database.execute("SELECT count(*) FROM ratings").int(0, 0) == 1)
        #expect(try database.execute("SELECT count(*) FROM training_runs").int(0, 0) == 0)
    }
}
