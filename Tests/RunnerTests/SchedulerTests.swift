import Foundation
import Testing
@testable import RunnerKit

/// The pipeline's rules: steps in order, a failed step retried as its Retry says, later steps
/// only after success, the history kept across restarts.
@Suite struct SchedulerTests {
    final class Calls: @unchecked Sendable {
        let lock = NSLock()
        var log: [String] = []
        var failuresLeft: [String: Int]
        init(failures: [String: Int]) { failuresLeft = failures }

        func invoke(_ function: String, _ payload: Data) -> Invocation.Outcome {
            lock.lock(); defer { lock.unlock() }
            log.append(function)
            if let left = failuresLeft[function], left > 0 {
                failuresLeft[function] = left - 1
                return .functionError(Data(#"{"errorMessage":"database is down"}"#.utf8), type: "Unhandled")
            }
            return .response(Data("{}".utf8))
        }
    }

    static func pipeline(retries: Int = 1, interval: Double = 0.2) -> Template.Job {
        Template.Job(name: "nightly", expression: "cron(0 2 * * ? *)", steps: [
            Template.Step(name: "GenerateRatings", function: "IngestFunction", payload: Data(#"{"action":"generate"}"#.utf8), retryInterval: interval, retries: retries),
            Template.Step(name: "Retrain", function: "TrainFunction", payload: Data(#"{"action":"train","force":true}"#.utf8), retryInterval: interval, retries: retries),
        ])
    }

    func waitForEnd(_ scheduler: Scheduler, _ id: String) throws -> ScheduleRun {
        for _ in 0..<200 {
            if let run = scheduler.run(id), run.status != "running" { return run }
            usleep(20_000)
        }
        throw RunnerError("run \(id) did not end")
    }

    @Test func aFailedStepIsRetriedOnceAfterItsInterval() throws {
        let calls = Calls(failures: ["IngestFunction": 1])
        let scheduler = try Scheduler(jobs: [Self.pipeline()], historyFile: nil, invoke: calls.invoke)
        let started = Date()
        let id = try #require(scheduler.trigger("nightly").runID)
        let run = try waitForEnd(scheduler, id)
        #expect(run.status == "succeeded")
        #expect(run.trigger == "manual")
        #expect(run.steps.map(\.attempts) == [2, 1])
        #expect(calls.log == ["IngestFunction", "IngestFunction", "TrainFunction"])
        #expect(Date().timeIntervalSince(started) >= 0.2)
    }

    @Test func aStepThatFailsTwiceStopsThePipeline() throws {
        let calls = Calls(failures: ["IngestFunction": 2])
        let history = FileManager.default.temporaryDirectory.appendingPathComponent("schedules-\(UUID().uuidString)/runs.jsonl")
        let scheduler = try Scheduler(jobs: [Self.pipeline()], historyFile: history, invoke: calls.invoke)
        let run = try waitForEnd(scheduler, try #require(scheduler.trigger("nightly").runID))
        #expect(run.status == "failed")
        #expect(run.steps.map(\.status) == ["failed", "skipped"])
        #expect(run.steps[0].attempts == 2)
        #expect(run.steps[0].error?.contains("database is down") == true)
        #expect(calls.log == ["IngestFunction", "IngestFunction"], "the retrain must not run after a failed step")
        // The history survives a restart.
        let reopened = try Scheduler(jobs: [Self.pipeline()], historyFile: history, invoke: calls.invoke)
        let runs = try #require(reopened.history("nightly"))
        #expect(runs.count == 1)
        #expect(runs.first?["status"] as? String == "failed")
    }

    /// 200 starts in a row (an attack once did that) give one run; the rest are told which run
    /// is active, and sequential manual runs are rate-limited.
    @Test func oneRunAtATimeAndManualRunsAreRateLimited() throws {
        let scheduler = try Scheduler(jobs: [Self.pipeline()], historyFile: nil) { _, _ in usleep(300_000); return .response(Data("{}".utf8)) }
        scheduler.manualRunLimit = .init(burst: 2, interval: 3600)
        let first = try #require(scheduler.trigger("nightly").runID)
        for _ in 0..<199 { #expect(scheduler.trigger("nightly") == .alreadyRunning(runID: first)) }
        _ = try waitForEnd(scheduler, first)
        #expect(try #require(scheduler.history("nightly")).count == 1)
        let second = try #require(scheduler.trigger("nightly").runID)
        _ = try waitForEnd(scheduler, second)
        guard case .rateLimited(let seconds) = scheduler.trigger("nightly") else { Issue.record("a third manual run within the hour was started"); return }
        #expect(seconds > 0 && seconds <= 3600)
    }

    @Test func unknownSchedulesAreNotRun() throws {
        let scheduler = try Scheduler(jobs: [Self.pipeline()], historyFile: nil) { _, _ in .response(Data()) }
        #expect(scheduler.trigger("weekly") == .unknownSchedule)
        #expect(scheduler.history("weekly") == nil)
    }

    @Test func theClockFiresDueSchedules() throws {
        let calls = Calls(failures: [:])
        let job = Template.Job(name: "often", expression: "rate(1 minute)", steps: [
            Template.Step(name: "Stats", function: "IngestFunction", payload: Data("{}".utf8))])
        // Created 59.5 s ago: the first fire is half a second away.
        let scheduler = try Scheduler(jobs: [job], historyFile: nil, now: Date().addingTimeInterval(-59.5), invoke: calls.invoke)
        scheduler.start()
        defer { scheduler.stop() }
        for _ in 0..<100 where scheduler.history("often")?.first?["status"] as? String != "succeeded" { usleep(50_000) }
        let run = try #require(scheduler.history("often")?.first)
        #expect(run["trigger"] as? String == "schedule")
        #expect(run["status"] as? String == "succeeded")
    }

    @Test func theTemplatesNightlyPipelineIsAStateMachine() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let template = try Template.load(root.appendingPathComponent("template/template.yaml").path)
        let nightly = try #require(template.jobs.first { $0.name == "nightly" })
        #expect(nightly.expression == "cron(0 2 * * ? *)")
        #expect(nightly.steps.map(\.name) == ["HealthCheck", "GenerateRatings", "Retrain"])
        #expect(nightly.steps.map(\.function) == ["IngestFunction", "IngestFunction", "TrainFunction"])
        // A failed health check stops the run at once: no retry five minutes later.
        #expect(nightly.steps.map(\.retries) == [0, 1, 1])
        #expect(nightly.steps.map(\.retryInterval).suffix(2) == [300, 300])
        let health = try JSONSerialization.jsonObject(with: nightly.steps[0].payload) as? [String: Any]
        #expect(health?["action"] as? String == "health")
        let payload = try JSONSerialization.jsonObject(with: nightly.steps[2].payload) as? [String: Any]
        #expect(payload?["force"] as? Bool == true)
        #expect(payload?["action"] as? String == "train")
        let generate = try JSONSerialization.jsonObject(with: nightly.steps[1].payload) as? [String: Any]
        #expect(generate?["spread_days"] as? Int == 7)
        #expect(generate?["batch_size"] as? Int == 20000)
    }
}
