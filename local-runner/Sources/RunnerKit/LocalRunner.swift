import Foundation

/// The runner's entry point: `local-runner [options]` or `local-runner credentials`.
public enum LocalRunner {
    public static func main(_ arguments: [String]) -> Never {
        signal(SIGPIPE, SIG_IGN)
        // A parent may have started us with signals blocked (the mask is inherited): take them back.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        do {
            let options = try Options.parse(arguments)
            try run(options)
        } catch {
            FileHandle.standardError.write(Data("local-runner: \(error)\n".utf8))
            exit(2)
        }
    }

    static func run(_ options: Options) throws -> Never {
        let template = try Template.load(options.template)
        let directory = options.functions ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "AWS_LAMBDA_RUNTIME_API")
        var pools: [String: WorkerPool] = [:]
        var cold: [String: ColdInvoker] = [:]
        for function in template.functions {
            let executable = directory + "/" + function.executable
            guard FileManager.default.isExecutableFile(atPath: executable) else {
                throw RunnerError("\(function.logicalID): no executable \(executable); build with `swift build -c release` or pass --functions")
            }
            let env = environment.merging(function.environment) { runner, _ in runner }
            pools[function.logicalID] = WorkerPool(function: function, executable: executable, environment: env)
            cold[function.logicalID] = ColdInvoker(executable: executable, environment: env)
        }
        let gateway = Gateway(template: template, pools: pools, cold: options.cold ? cold : nil)
        gateway.uiDirectory = StaticSite.defaultDirectory(template: options.template)
        let server = HTTPServer(host: options.host, port: options.port, maximumBody: 6 * 1024 * 1024) { gateway.handle($0) }
        let port = try server.start()
        print("gateway http://\(options.host):\(port)")
        print("invoke  http://\(options.host):\(port)/2015-03-31/functions/{name}/invocations")
        print("routes  \(template.functions.map(\.routes.count).reduce(0, +)) from \(options.template)\(options.cold ? " (cold mode: one process per invocation)" : "")")
        fflush(stdout)
        let stop: @convention(c) (Int32) -> Void = { _ in
            WorkerRegistry.terminateAll()
            _exit(0)
        }
        signal(SIGINT, stop)
        signal(SIGTERM, stop)
        while true {
            sleep(30)
            for pool in pools.values { pool.reclaim(idleFor: options.idleTimeout) }
        }
    }
}

/// Worker process ids in a fixed table a signal handler can read (a C function pointer
/// captures nothing, and may not lock or allocate).
enum WorkerRegistry {
    nonisolated(unsafe) static let slots = UnsafeMutablePointer<Int32>.allocate(capacity: 1024)
    nonisolated(unsafe) static var initialized: Bool = {
        slots.initialize(repeating: 0, count: 1024)
        return true
    }()

    static func add(_ pid: Int32) {
        _ = initialized
        for index in 0..<1024 where slots[index] == 0 { slots[index] = pid; return }
    }

    static func remove(_ pid: Int32) {
        for index in 0..<1024 where slots[index] == pid { slots[index] = 0 }
    }

    static func terminateAll() {
        for index in 0..<1024 where slots[index] > 0 { kill(slots[index], SIGTERM) }
    }
}
