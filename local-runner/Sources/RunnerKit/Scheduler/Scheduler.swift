import Foundation

/// One run of a scheduled job: its steps in order, each with its attempts.
struct ScheduleRun: Codable {
    struct StepRecord: Codable {
        var name: String
        var function: String
        var status: String          // pending, running, succeeded, failed, skipped
        var attempts: Int = 0
        var error: String?
        var durationSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case name, function, status, attempts, error, durationSeconds = "duration_seconds"
        }
    }

    var id: String
    var schedule: String
    var trigger: String             // schedule or manual
    var status: String              // running, succeeded, failed
    var startedAt: Date
    var finishedAt: Date?
    var steps: [StepRecord]

    enum CodingKeys: String, CodingKey {
        case id, schedule, trigger, status, steps, startedAt = "started_at", finishedAt = "finished_at"
    }
}

/// Fires the template's schedules (EventBridge expressions, UTC) and runs their steps: a step
/// runs only when the one before it succeeded, and a failed step is retried as its Retry says
/// (the nightly pipeline: once, after 5 minutes). Runs are kept in memory and appended to a
/// JSON-lines history file, so the history survives restarts.
final class Scheduler: @unchecked Sendable {
    typealias Invoke = (_ function: String, _ payload: Data) -> Invocation.Outcome

    struct Entry {
        var job: Template.Job
        var expression: ScheduleExpression
        var next: Date?
    }

    private let mutex = Mutex()
    private let wake = ConditionVariable()
    private var entries: [Entry]
    private var runs: [ScheduleRun] = []
    private var stopped = false
    private let historyFile: URL?
    private let invoke: Invoke
    private let origin: Date
    /// Called when a run ends (metrics).
    var onRunFinished: ((ScheduleRun) -> Void)?

    init(jobs: [Template.Job], historyFile: URL?, now: Date = Date(), invoke: @escaping Invoke) throws {
        self.historyFile = historyFile
        self.invoke = invoke
        origin = now
        entries = try jobs.map { job in
            let expression = try ScheduleExpression.parse(job.expression)
            return Entry(job: job, expression: expression, next: expression.nextFire(after: now, origin: now))
        }
        if let historyFile, let text = try? String(contentsOf: historyFile, encoding: .utf8) {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            runs = text.split(separator: "\n").compactMap { try? decoder.decode(ScheduleRun.self, from: Data($0.utf8)) }
        }
    }

    /// Starts the clock: a thread that sleeps until the next fire time.
    func start() {
        let thread = Thread { [self] in loop() }
        thread.start()
    }

    func stop() {
        mutex.lock()
        stopped = true
        wake.broadcast()
        mutex.unlock()
    }

    private func loop() {
        mutex.lock()
        defer { mutex.unlock() }
        while !stopped {
            let now = Date()
            var due: [Template.Job] = []
            for index in entries.indices {
                guard let next = entries[index].next, next <= now else { continue }
                due.append(entries[index].job)
                entries[index].next = entries[index].expression.nextFire(after: now, origin: origin)
            }
            for job in due {
                // As for a manual start: a run still going (a slow retrain) is not doubled.
                if let active = activeRun(of: job.name) {
                    FileHandle.standardError.write(Data("local-runner: \(job.name) is due but run \(active.id) is still going; this fire is skipped\n".utf8))
                    continue
                }
                beginRun(job, trigger: "schedule")
            }
            let earliest = entries.compactMap(\.next).min() ?? now.addingTimeInterval(3600)
            _ = wake.wait(mutex, until: min(earliest, now.addingTimeInterval(3600)))
        }
    }

    /// What `POST /schedules/{name}/run` did.
    enum Trigger: Equatable {
        case started(runID: String)
        /// At most one run of a schedule at a time: this one is still going.
        case alreadyRunning(runID: String)
        /// Manual starts are rate-limited; the next is allowed after this many seconds.
        case rateLimited(retryAfter: Int)
        case unknownSchedule

        var runID: String? { if case .started(let id) = self { return id } else { return nil } }
    }

    /// Manual starts of one schedule: a burst, then one per `interval` seconds (a token bucket).
    struct ManualRunLimit {
        var burst = 10
        var interval: Double = 60
    }

    var manualRunLimit = ManualRunLimit()
    /// Per schedule: manual starts still allowed now, and when that was last computed.
    private var allowance: [String: (tokens: Double, at: Date)] = [:]

    /// `POST /schedules/{name}/run`.
    func trigger(_ name: String) -> Trigger {
        mutex.lock()
        defer { mutex.unlock() }
        guard let entry = entries.first(where: { $0.job.name == name }) else { return .unknownSchedule }
        if let active = activeRun(of: name) { return .alreadyRunning(runID: active.id) }
        let now = Date()
        let previous = allowance[name] ?? (Double(manualRunLimit.burst), now)
        let tokens = min(Double(manualRunLimit.burst), previous.tokens + now.timeIntervalSince(previous.at) / manualRunLimit.interval)
        guard tokens >= 1 else {
            allowance[name] = (tokens, now)
            return .rateLimited(retryAfter: Int(((1 - tokens) * manualRunLimit.interval).rounded(.up)))
        }
        allowance[name] = (tokens - 1, now)
        return .started(runID: beginRun(entry.job, trigger: "manual"))
    }

    /// The run of `schedule` still going, if any. Called with the mutex held.
    private func activeRun(of schedule: String) -> ScheduleRun? {
        runs.last { $0.schedule == schedule && $0.status == "running" }
    }

    /// Records the run and starts it on its own thread. Called with the mutex held.
    @discardableResult
    private func beginRun(_ job: Template.Job, trigger: String) -> String {
        let run = ScheduleRun(id: UUID().uuidString.lowercased(), schedule: job.name, trigger: trigger, status: "running", startedAt: Date(),
                              steps: job.steps.map { ScheduleRun.StepRecord(name: $0.name, function: $0.function, status: "pending") })
        runs.append(run)
        let thread = Thread { [self] in execute(job, runID: run.id) }
        thread.start()
        return run.id
    }

    private func update(_ id: String, _ change: (inout ScheduleRun) -> Void) {
        mutex.lock()
        if let index = runs.lastIndex(where: { $0.id == id }) { change(&runs[index]) }
        mutex.unlock()
    }

    private func execute(_ job: Template.Job, runID: String) {
        var failed = false
        for (index, step) in job.steps.enumerated() {
            if failed {
                update(runID) { $0.steps[index].status = "skipped" }
                continue
            }
            var attempt = 0
            while true {
                attempt += 1
                update(runID) { $0.steps[index].status = "running"; $0.steps[index].attempts = attempt }
                let started = Date()
                let error = Self.failure(of: invoke(step.function, step.payload))
                update(runID) { run in
                    run.steps[index].durationSeconds = (Date().timeIntervalSince(started) * 1000).rounded() / 1000
                    run.steps[index].error = error
                    run.steps[index].status = error == nil ? "succeeded" : "failed"
                }
                guard error != nil else { break }
                guard attempt <= step.retries, !sleep(step.retryInterval * pow(step.backoffRate, Double(attempt - 1))) else {
                    failed = true
                    break
                }
            }
        }
        // The history line is written under the same lock that publishes the end, so whoever
        // sees the run finished also finds it in the history file.
        var finished: ScheduleRun?
        update(runID) { run in
            run.status = failed ? "failed" : "succeeded"
            run.finishedAt = Date()
            appendToHistory(run)
            finished = run
        }
        if let finished { onRunFinished?(finished) }
    }

    /// Waits `seconds` before a retry; true when the scheduler was stopped meanwhile.
    private func sleep(_ seconds: Double) -> Bool {
        mutex.lock()
        defer { mutex.unlock() }
        let until = Date().addingTimeInterval(seconds)
        while !stopped && Date() < until { _ = wake.wait(mutex, until: until) }
        return stopped
    }

    /// Why an invocation counts as failed, as Step Functions' lambda:invoke task sees it.
    static func failure(of outcome: Invocation.Outcome) -> String? {
        switch outcome {
        case .response: return nil
        case .functionError(let data, let type): return "\(type): \(String(decoding: data.prefix(500), as: UTF8.self))"
        case .crashed(let reason): return "Runtime.ExitError: \(reason)"
        case .timedOut: return "States.Timeout: the function timed out"
        case .throttled: return "Lambda.TooManyRequestsException"
        }
    }

    /// Called with the mutex held, which also keeps two runs' lines from interleaving.
    private func appendToHistory(_ run: ScheduleRun) {
        guard let historyFile else { return }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        guard var line = try? encoder.encode(run) else { return }
        line.append(UInt8(ascii: "\n"))
        if !FileManager.default.fileExists(atPath: historyFile.path) {
            try? FileManager.default.createDirectory(at: historyFile.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: historyFile.path, contents: nil)
        }
        guard let handle = try? FileHandle(forWritingTo: historyFile) else { return }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: line)
        try? handle.close()
    }

    // MARK: what the gateway shows

    var names: [String] {
        mutex.lock(); defer { mutex.unlock() }
        return entries.map(\.job.name)
    }

    func overview() -> [[String: Any]] {
        mutex.lock(); defer { mutex.unlock() }
        return entries.map { entry in
            var item: [String: Any] = ["name": entry.job.name, "expression": entry.job.expression,
                                       "targets": entry.job.steps.map { ["step": $0.name, "function": $0.function] },
                                       "next_fire": entry.next.map(Self.timestamp) ?? NSNull()]
            item["last_run"] = runs.last(where: { $0.schedule == entry.job.name }).map(Self.document) ?? NSNull()
            return item
        }
    }

    func history(_ name: String) -> [[String: Any]]? {
        mutex.lock(); defer { mutex.unlock() }
        guard entries.contains(where: { $0.job.name == name }) else { return nil }
        return runs.filter { $0.schedule == name }.reversed().map(Self.document)
    }

    func run(_ id: String) -> ScheduleRun? {
        mutex.lock(); defer { mutex.unlock() }
        return runs.last { $0.id == id }
    }

    static func document(_ run: ScheduleRun) -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(run), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
