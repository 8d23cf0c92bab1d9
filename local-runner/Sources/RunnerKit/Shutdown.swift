import Foundation

/// Ctrl-C and SIGTERM: stop taking requests, let those in flight finish (up to a bound), stop
/// the workers, the scheduler, S3 and PostgreSQL, then leave. A second signal leaves at once.
/// The signal handler only writes a byte to a pipe (all it may safely do); a thread does the rest.
final class Shutdown: @unchecked Sendable {
    nonisolated(unsafe) static var shared: Shutdown?
    nonisolated(unsafe) static var pipeWriteEnd: Int32 = -1
    nonisolated(unsafe) static var signalled: Int32 = 0

    var postgres: EmbeddedPostgres?
    var s3: S3Server?
    var mlflow: ManagedMLflow?
    var pools: [WorkerPool] = []
    var gateway: Gateway?
    var scheduler: Scheduler?
    var server: HTTPServer?
    private let lock = NSLock()
    private var done = false

    static func install() -> Shutdown {
        let shutdown = Shutdown()
        shared = shutdown
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        pipeWriteEnd = fds[1]
        let handler: @convention(c) (Int32) -> Void = { _ in
            Shutdown.signalled += 1
            if Shutdown.signalled > 1 {
                WorkerRegistry.terminateAll()
                _exit(130)
            }
            var byte: UInt8 = 1
            _ = write(Shutdown.pipeWriteEnd, &byte, 1)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        let readEnd = fds[0]
        let thread = Thread {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
            shutdown.stop(exitCode: 0)
        }
        thread.start()
        return shutdown
    }

    /// Stops everything that was started, once; then exits with `exitCode` (nil: return).
    func stop(exitCode: Int32?) {
        lock.lock()
        if done { lock.unlock(); return }
        done = true
        lock.unlock()
        if exitCode != nil { LocalRunner.say("stopping: finishing requests in flight") }
        server?.stop()
        scheduler?.stop()
        if let gateway {
            let deadline = Date().addingTimeInterval(30)
            while gateway.requestsInFlight > 0 && Date() < deadline { usleep(20_000) }
        }
        for pool in pools { pool.stop() }
        WorkerRegistry.terminateAll()
        mlflow?.stop()
        s3?.stop()
        if let postgres {
            postgres.stop()
            LocalRunner.say("PostgreSQL stopped")
        }
        if let exitCode {
            LocalRunner.say("stopped")
            exit(exitCode)
        }
    }
}
