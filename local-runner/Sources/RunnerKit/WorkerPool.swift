import Foundation

/// One invocation on its way through a pool.
final class Invocation: @unchecked Sendable {
    enum Outcome {
        case response(Data)
        case functionError(Data, type: String)
        case crashed(String)
        case timedOut
        case throttled
    }

    let id: String
    let event: Data
    let timeout: Double
    /// Set when a worker picks the invocation up: Lambda's clock starts then, not in the queue.
    fileprivate(set) var deadline: Date
    fileprivate var picked = false
    fileprivate var outcome: Outcome?
    /// Signalled when a worker picks it up or its outcome is known (waited on under the pool's mutex).
    fileprivate let changed = ConditionVariable()

    init(id: String, event: Data, timeout: Double) {
        self.id = id
        self.event = event
        self.timeout = timeout
        deadline = Date().addingTimeInterval(timeout)
    }
}

/// A pthread mutex with condition variables bound to it: workers wait for work on one, each
/// invocation's caller on its own, so a hand-off wakes exactly the thread it concerns.
final class Mutex: @unchecked Sendable {
    let raw = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(raw, nil) }
    deinit { pthread_mutex_destroy(raw); raw.deallocate() }
    func lock() { pthread_mutex_lock(raw) }
    func unlock() { pthread_mutex_unlock(raw) }
}

final class ConditionVariable: @unchecked Sendable {
    let raw = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    init() { pthread_cond_init(raw, nil) }
    deinit { pthread_cond_destroy(raw); raw.deallocate() }
    func signal() { pthread_cond_signal(raw) }
    func broadcast() { pthread_cond_broadcast(raw) }
    func wait(_ mutex: Mutex) { pthread_cond_wait(raw, mutex.raw) }
    /// False when the date passed first.
    func wait(_ mutex: Mutex, until date: Date) -> Bool {
        let seconds = date.timeIntervalSince1970
        var deadline = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        return pthread_cond_timedwait(raw, mutex.raw, &deadline) == 0
    }
}

/// Warm workers for one function: processes started in Runtime API mode, each against its own
/// Runtime API endpoint (as every Lambda execution environment has its own), so the pool knows
/// which request a crashed worker held. Invocations queue briefly when every worker is busy and
/// the pool is at the function's concurrency, then get 429.
final class WorkerPool: @unchecked Sendable {
    final class Worker: @unchecked Sendable {
        let number: Int
        var process: Process?
        var server: HTTPServer?
        var current: Invocation?
        var waiting = false
        var alive = true
        var lastUsed = Date()
        /// Picked at least one invocation: a worker that dies before that failed to start.
        var served = false
        var exited = false
        var initError: Data?
        /// A container worker's name, and the file its engine writes the container's pid to.
        var container: (name: String, pidFile: String)?
        init(number: Int) { self.number = number }
    }

    let function: Template.Function
    let executable: String
    /// Read by each launch; changed only before the first (the runner adds its gateway's address).
    var environment: [String: String]
    let queueTimeout: Double
    let metrics: Metrics?
    /// Set for `--containers`: workers are containers of the function's image.
    let containers: ContainerWorkers?
    private let mutex = Mutex()
    /// Workers waiting in `invocation/next` sleep here until the queue has work.
    private let workAvailable = ConditionVariable()
    private var queue: [Invocation] = []
    private var workers: [Worker] = []
    private var started = 0
    private var stopped = false
    private(set) var invocations = 0
    private(set) var coldStarts = 0

    init(function: Template.Function, executable: String, environment: [String: String], queueTimeout: Double = 2, metrics: Metrics? = nil,
         containers: ContainerWorkers? = nil) {
        self.function = function
        self.executable = executable
        self.environment = environment
        self.queueTimeout = queueTimeout
        self.metrics = metrics
        self.containers = containers
    }

    var stats: [String: Int] {
        mutex.lock(); defer { mutex.unlock() }
        return ["workers": workers.count, "busy": workers.filter { $0.current != nil }.count, "queued": queue.count,
                "invocations": invocations, "cold_starts": coldStarts]
    }

    /// Runs one invocation to its end: the function's answer, its error, or why there is neither.
    /// A synchronous caller waits `queueTimeout` (default: the pool's, 2 s) for a worker before
    /// 429; Event invocations and schedules pass a longer wait, as Lambda's async queue would.
    func invoke(_ event: Data, id: String, queueTimeout: Double? = nil) -> Invocation.Outcome {
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = run(event, id: id, queueTimeout: queueTimeout ?? self.queueTimeout)
        if let metrics {
            let name = function.executable
            metrics.increment("function_invocations_total", [name])
            switch outcome {
            case .response: break
            case .throttled: metrics.increment("function_throttles_total", [name])
            case .functionError, .crashed, .timedOut: metrics.increment("function_errors_total", [name])
            }
            metrics.observe("function_duration_seconds", [name], Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        return outcome
    }

    private func run(_ event: Data, id: String, queueTimeout: Double) -> Invocation.Outcome {
        let invocation = Invocation(id: id, event: event, timeout: function.timeout)
        mutex.lock()
        guard !stopped else { mutex.unlock(); return .crashed("the runner is stopping") }
        invocations += 1
        queue.append(invocation)
        let idle = workers.filter { $0.current == nil }.count
        // Decided and recorded in one critical section, so concurrent callers never start more
        // workers than the function's reserved concurrency.
        let newWorker = queue.count > idle && workers.count < function.concurrency ? reserveWorker() : nil
        workAvailable.signal()
        mutex.unlock()
        if let newWorker { launch(newWorker) }

        mutex.lock()
        defer { mutex.unlock() }
        let queueDeadline = Date().addingTimeInterval(queueTimeout)
        while !invocation.picked && invocation.outcome == nil {
            if !invocation.changed.wait(mutex, until: queueDeadline) && !invocation.picked && invocation.outcome == nil {
                queue.removeAll { $0 === invocation }
                return .throttled
            }
        }
        while invocation.outcome == nil {
            if !invocation.changed.wait(mutex, until: invocation.deadline) && invocation.outcome == nil && Date() >= invocation.deadline {
                // Lambda ends the execution environment at the timeout; so does the runner.
                if let worker = workers.first(where: { $0.current === invocation }) {
                    worker.current = nil
                    end(worker)
                }
                return .timedOut
            }
        }
        return invocation.outcome ?? .crashed("no outcome")
    }

    /// Stops every worker; no new one starts after this.
    func stop() {
        mutex.lock()
        stopped = true
        let all = workers
        for worker in all { worker.alive = false }
        workers.removeAll()
        workAvailable.broadcast()
        mutex.unlock()
        for worker in all { end(worker, wait: true); worker.server?.stop() }
    }

    /// Stops a worker's process, or its container (killing the engine's client would leave the
    /// container running). `wait`: until the container is gone (the runner is stopping).
    private func end(_ worker: Worker, wait: Bool = false) {
        worker.process?.terminate()
        guard let containers, let name = worker.container?.name else { return }
        if wait { containers.kill(name) } else { Thread { containers.kill(name) }.start() }
    }

    // MARK: workers

    /// A new worker counted in the pool at once. Called with the mutex held.
    private func reserveWorker() -> Worker {
        started += 1
        coldStarts += 1
        let worker = Worker(number: started)
        workers.append(worker)
        return worker
    }

    /// Starts a reserved worker's process against its own Runtime API endpoint.
    private func launch(_ worker: Worker) {
        metrics?.increment("function_cold_starts_total", [function.executable])
        // A worker holds one connection; a few more allow for a runtime that reconnects.
        let server = HTTPServer(host: "127.0.0.1", port: 0, maximumBody: 6 * 1024 * 1024, limits: .init(maximumConnections: 16, idleTimeout: 24 * 3600)) { [weak self, worker] request in
            self?.runtimeAPI(request, worker: worker) ?? HTTPServer.Response(status: 503)
        }
        server.admitPeer = { [weak self, worker] peer, localPort in
            guard peer.address == "127.0.0.1", let pid = self?.processID(of: worker) else { return false }
            return PeerProcess.connection(fromPort: peer.port, toPort: localPort, belongsTo: pid)
        }
        do {
            let port = try server.start()
            worker.server = server
            let process = Process()
            var env = environment
            env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:\(port)"
            env["AWS_LAMBDA_FUNCTION_NAME"] = function.logicalID
            env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = String(function.memoryMB)
            if let containers {
                let name = "movierec-\(function.executable)-\(getpid())-\(worker.number)"
                let pidFile = NSTemporaryDirectory() + "/\(name).pid"
                try? FileManager.default.removeItem(atPath: pidFile)
                mutex.lock(); worker.container = (name, pidFile); mutex.unlock()
                process.executableURL = URL(fileURLWithPath: containers.engine[0])
                process.arguments = containers.runArguments(function, name: name, pidFile: pidFile, environment: env)
            } else {
                process.executableURL = URL(fileURLWithPath: executable)
            }
            process.environment = env
            process.standardOutput = FileHandle.standardError
            process.standardError = FileHandle.standardError
            process.terminationHandler = { [weak self, worker] process in self?.workerExited(worker, status: process.terminationStatus) }
            try process.run()
            mutex.lock()
            worker.process = process
            // Registered for the signal handler unless it has already exited.
            if !worker.exited { WorkerRegistry.add(process.processIdentifier) }
            mutex.unlock()
        } catch {
            server.stop()
            launchFailed(worker, reason: "cannot start \(executable): \(error)")
        }
    }

    /// The worker's process id, waiting briefly for it: a fast worker connects before run()
    /// has returned to us. For a container, its entrypoint's pid (on this host), from the file
    /// the engine writes before it starts the process.
    private func processID(of worker: Worker) -> pid_t? {
        for _ in 0..<200 {
            mutex.lock()
            let pid = worker.container.map { pid_t((try? String(contentsOfFile: $0.pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0 }
                ?? worker.process?.processIdentifier
            let exited = worker.exited
            mutex.unlock()
            if let pid, pid > 0 { return pid }
            if exited { return nil }
            usleep(10_000)
        }
        return nil
    }

    /// A worker that could not start: no retry (it would fail the same way); when no worker is
    /// left to serve the queue, the queued invocations get the reason.
    private func launchFailed(_ worker: Worker, reason: String) {
        mutex.lock()
        workers.removeAll { $0 === worker }
        worker.alive = false
        worker.exited = true
        if workers.isEmpty {
            for invocation in queue where invocation.outcome == nil {
                invocation.outcome = .crashed(reason)
                invocation.changed.signal()
            }
            queue.removeAll()
        }
        mutex.unlock()
    }

    private func workerExited(_ worker: Worker, status: Int32) {
        if let pidFile = worker.container?.pidFile { try? FileManager.default.removeItem(atPath: pidFile) }
        mutex.lock()
        worker.exited = true
        if let pid = worker.process?.processIdentifier { WorkerRegistry.remove(pid) }
        workers.removeAll { $0 === worker }
        worker.alive = false
        workAvailable.broadcast()  // its /next handler, if parked, must leave without taking work
        if let invocation = worker.current, invocation.outcome == nil {
            invocation.outcome = .crashed("the \(function.executable) worker exited (status \(status)) during the invocation")
            invocation.changed.signal()
        }
        worker.current = nil
        var replacement: Worker?
        if !worker.served && workers.isEmpty {
            // It died before taking any work (Lambda's init phase): starting another would die
            // the same way, so the queue gets the init error, as Lambda answers it.
            let error = worker.initError.map { Invocation.Outcome.functionError($0, type: "Runtime.InitError") }
                ?? .crashed("the \(function.executable) worker exited (status \(status)) before taking an invocation")
            for invocation in queue where invocation.outcome == nil {
                invocation.outcome = error
                invocation.changed.signal()
            }
            queue.removeAll()
        } else if !stopped && !queue.isEmpty && workers.count < function.concurrency {
            replacement = reserveWorker()
        }
        mutex.unlock()
        worker.server?.stop()
        // Started from a fresh thread: a chain of failing workers must not grow this stack.
        if let replacement { Thread { [self] in launch(replacement) }.start() }
    }

    /// Reclaims workers idle for longer than `seconds`.
    func reclaim(idleFor seconds: Double) {
        mutex.lock()
        let idle = workers.filter { $0.current == nil && Date().timeIntervalSince($0.lastUsed) > seconds }
        // Out of the pool before the signal: a worker being stopped must not pick up work.
        for worker in idle { worker.alive = false }
        workers.removeAll { worker in idle.contains { $0 === worker } }
        workAvailable.broadcast()
        mutex.unlock()
        for worker in idle { end(worker) }
    }

    // MARK: the Runtime API, per worker

    private func runtimeAPI(_ request: HTTPServer.Request, worker: Worker) -> HTTPServer.Response {
        let prefix = "/2018-06-01/runtime"
        // The endpoint answers to its own address only (a page elsewhere that rebinds its name
        // to 127.0.0.1 sends its own Host).
        guard let port = worker.server?.port, request.header("host") == "127.0.0.1:\(port)" else {
            return .json(403, ["errorMessage": "Forbidden: this Runtime API endpoint answers to its own address only"])
        }
        guard request.path.hasPrefix(prefix) else { return .json(404, ["errorMessage": "unknown path \(request.path)"]) }
        let rest = String(request.path.dropFirst(prefix.count))
        if request.method == "GET" && rest == "/invocation/next" {
            mutex.lock()
            defer { mutex.unlock() }
            worker.waiting = true
            while queue.isEmpty && worker.alive { workAvailable.wait(mutex) }
            worker.waiting = false
            guard worker.alive else { return .json(410, ["errorMessage": "this execution environment was shut down"]) }
            let invocation = queue.removeFirst()
            invocation.picked = true
            invocation.deadline = Date().addingTimeInterval(invocation.timeout)
            worker.current = invocation
            worker.served = true
            worker.lastUsed = Date()
            invocation.changed.signal()
            return HTTPServer.Response(status: 200, headers: [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", invocation.id),
                ("Lambda-Runtime-Deadline-Ms", String(Int64(invocation.deadline.timeIntervalSince1970 * 1000))),
                ("Lambda-Runtime-Invoked-Function-Arn", FunctionName.arn(of: function.logicalID)),
                ("Lambda-Runtime-Trace-Id", "Root=1-\(String(Int(Date().timeIntervalSince1970), radix: 16))-\(invocation.id.replacingOccurrences(of: "-", with: "").prefix(24));Sampled=0"),
            ], body: invocation.event)
        }
        if request.method == "POST" && rest == "/init/error" {
            mutex.lock()
            worker.initError = request.body
            if let invocation = worker.current, invocation.outcome == nil {
                invocation.outcome = .functionError(request.body, type: request.header("lambda-runtime-function-error-type") ?? "Runtime.InitError")
                invocation.changed.signal()
            }
            mutex.unlock()
            return .json(202, ["status": "OK"])
        }
        let parts = rest.split(separator: "/")
        guard request.method == "POST", parts.count == 3, parts[0] == "invocation", parts[2] == "response" || parts[2] == "error" else {
            return .json(404, ["errorMessage": "unknown Runtime API call \(request.method) \(request.path)"])
        }
        mutex.lock()
        defer { mutex.unlock() }
        guard let invocation = worker.current, invocation.id == parts[1] else {
            return .json(400, ["errorMessage": "request \(parts[1]) is not in flight on this worker", "errorType": "InvalidRequestID"])
        }
        invocation.outcome = parts[2] == "response" ? .response(request.body)
            : .functionError(request.body, type: request.header("lambda-runtime-function-error-type") ?? "Unhandled")
        worker.current = nil
        worker.lastUsed = Date()
        invocation.changed.signal()
        return .json(202, ["status": "OK"])
    }
}

/// `--cold`: one process per invocation over stdin/stdout, for debugging.
struct ColdInvoker {
    let executable: String
    var environment: [String: String]

    func invoke(_ event: Data, timeout: Double) -> Invocation.Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.environment = environment
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        do { try process.run() } catch { return .crashed("cannot start \(executable): \(error)") }
        // The clock first: a child that never reads its stdin must still time out.
        let timer = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        // Written from another thread, and a child that exits early is not an error of ours
        // (EPIPE): its output and status say what happened.
        let writer = input.fileHandleForWriting
        DispatchQueue.global().async {
            try? writer.write(contentsOf: event)
            try? writer.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        if process.terminationReason == .uncaughtSignal { return data.isEmpty ? .timedOut : .crashed("signal \(process.terminationStatus)") }
        return process.terminationStatus == 0 ? .response(data) : .functionError(data, type: "Unhandled")
    }
}
