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
            Shutdown.shared?.stop(exitCode: nil)
            exit(2)
        }
    }

    static func run(_ options: Options) throws -> Never {
        let dataDirectory = URL(fileURLWithPath: options.dataDirectory).standardizedFileURL
        if options.printCredentials {
            guard let credentials = try Credentials.load(from: dataDirectory) else {
                throw RunnerError("no credentials in \(dataDirectory.path) yet: start the runner once with --data-dir \(options.dataDirectory)")
            }
            print(Credentials.exports(credentials, endpoints: Endpoints.load(from: dataDirectory)))
            exit(0)
        }
        let template = try Template.load(options.template)
        let functionsDirectory = options.functions ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let containers = try options.containerImage.map { try ContainerWorkers(engine: options.containerEngine, imagePattern: $0) }
        if let containers {
            guard options.cold == false else { throw RunnerError("--containers keeps workers warm; it does not go with --cold") }
            guard !(ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "").isEmpty else {
                throw RunnerError("--containers needs DATABASE_URL: the embedded PostgreSQL listens on a private socket no container can reach; point it at a PostgreSQL the containers reach over TCP")
            }
            for function in template.functions where !containers.hasImage(of: function) {
                throw RunnerError("\(function.logicalID): no image \(containers.image(of: function)); build it with podman build -f template/Dockerfile --build-arg FUNCTION=\(function.executable) (see README)")
            }
        }
        for function in template.functions where containers == nil && !FileManager.default.isExecutableFile(atPath: functionsDirectory + "/" + function.executable) {
            throw RunnerError("\(function.logicalID): no executable \(functionsDirectory)/\(function.executable); build with `swift build -c release` or pass --functions")
        }
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let shutdown = Shutdown.install()
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "AWS_LAMBDA_RUNTIME_API")

        // PostgreSQL: the user's (DATABASE_URL), or our own under the data directory.
        if (environment["DATABASE_URL"] ?? "").isEmpty {
            let postgres = try EmbeddedPostgres(directory: dataDirectory)
            say("starting PostgreSQL in \(postgres.dataDirectory.path) (unix socket only)")
            try postgres.start()
            shutdown.postgres = postgres
            environment["DATABASE_URL"] = postgres.url
        }

        // S3: always our own, with the data directory's credentials.
        let credentials = try Credentials.loadOrCreate(in: dataDirectory)
        let s3 = S3Server(host: options.host, port: options.s3Port, root: dataDirectory.appendingPathComponent("s3"), credentials: credentials)
        let s3Port = try s3.start()
        shutdown.s3 = s3
        let bucket = (environment["ARTIFACT_BUCKET"] ?? "").isEmpty ? "movierec-artifacts" : environment["ARTIFACT_BUCKET"] ?? ""
        try s3.createBucket(bucket)
        let s3Endpoint = "http://\(options.host == "0.0.0.0" ? "127.0.0.1" : options.host):\(s3Port)"
        environment["S3_ENDPOINT_URL"] = s3Endpoint
        environment["AWS_ACCESS_KEY_ID"] = credentials.accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = credentials.secretAccessKey
        environment.removeValue(forKey: "AWS_SESSION_TOKEN")
        environment["AWS_REGION"] = "us-east-1"
        environment["ARTIFACT_BUCKET"] = bucket
        environment["MODEL_CACHE_DIR"] = dataDirectory.appendingPathComponent("models").path
        // What requests may name on this machine's disk, fixed here and never per request.
        let roots = [dataDirectory.path] + ([options.datasetDirectory].compactMap { $0 } + options.fileRoots).map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        environment["MOVIEREC_FILE_ROOTS"] = roots.joined(separator: ":")
        // MLflow: the user's (MLFLOW_TRACKING_URI), or our own when asked for or installed.
        var mlflow: ManagedMLflow?
        let usersMLflow = !(environment["MLFLOW_TRACKING_URI"] ?? "").isEmpty
        if options.mlflow == true || (options.mlflow == nil && !usersMLflow && ManagedMLflow.installed) {
            if Self.reachable(host: "127.0.0.1", port: options.mlflowPort) {
                let message = "port \(options.mlflowPort) is taken: MLflow not started (choose another with --mlflow-port, or --no-mlflow)"
                if options.mlflow == true { throw RunnerError(message) }
                say(message)
            } else {
                let server = try ManagedMLflow(dataDirectory: dataDirectory, host: options.host, port: options.mlflowPort, bucket: bucket,
                                               s3Endpoint: s3Endpoint, credentials: credentials)
                environment["MLFLOW_TRACKING_URI"] = server.url
                mlflow = server
            }
        }
        // Datasets downloaded by name are kept here, so a second start (or POST /ingest) reuses them.
        if (environment["MOVIELENS_CACHE"] ?? "").isEmpty {
            environment["MOVIELENS_CACHE"] = containers == nil ? dataDirectory.appendingPathComponent("movielens").path : "s3://\(bucket)/datasets/movielens/"
        }
        if containers != nil {
            // As deployed: the functions see their image and /tmp, and name no local directory.
            environment["MOVIEREC_FILE_ROOTS"] = ""
            environment["MODEL_CACHE_DIR"] = "/tmp/models"
        }

        let metrics = Metrics()
        var pools: [String: WorkerPool] = [:]
        var cold: [String: ColdInvoker] = [:]
        for function in template.functions {
            let executable = functionsDirectory + "/" + function.executable
            // The runner's settings win over the template's literals (MODEL_CACHE_DIR: /tmp/models is for Lambda).
            let env = environment.merging(function.environment) { runner, _ in runner }
            let pool = WorkerPool(function: function, executable: executable, environment: env, metrics: metrics, containers: containers)
            pools[function.logicalID] = pool
            var coldEnvironment = env
            coldEnvironment["AWS_LAMBDA_FUNCTION_NAME"] = function.logicalID
            cold[function.logicalID] = ColdInvoker(executable: executable, environment: coldEnvironment)
            metrics.collectors.append { [pool] in
                let stats = pool.stats
                metrics.set("function_warm_workers", [function.executable], Double(stats["workers"] ?? 0))
                metrics.set("function_busy_workers", [function.executable], Double(stats["busy"] ?? 0))
            }
        }
        shutdown.pools = Array(pools.values)
        let gateway = Gateway(template: template, pools: pools, cold: options.cold ? cold : nil, metrics: metrics)
        gateway.healthChecks["storage"] = { Self.reachable(host: "127.0.0.1", port: s3Port) ? "ok" : "error: the S3 endpoint does not answer" }
        gateway.uiDirectory = StaticSite.defaultDirectory(template: options.template)
        switch options.host {
        case "127.0.0.1", "localhost": break
        case "0.0.0.0": gateway.allowedHosts = nil  // any name: the user opened it on purpose
        default: gateway.allowedHosts?.insert(options.host)
        }
        shutdown.gateway = gateway

        // The gateway's address is known before the first worker starts: functions reach the
        // Lambda Invoke API there (AWS_ENDPOINT_URL_LAMBDA, as the AWS SDKs read it), and the
        // train function hands each run started over HTTP to itself through it. It answers
        // once the bootstrap below is done.
        let server = HTTPServer(host: options.host, port: options.port, maximumBody: 6 * 1024 * 1024) { gateway.handle($0) }
        let port = try server.bind()
        shutdown.server = server
        let base = "http://\(options.host):\(port)"
        let invokeEndpoint = "http://\(options.host == "0.0.0.0" ? "127.0.0.1" : options.host):\(port)"
        for pool in pools.values { pool.environment["AWS_ENDPOINT_URL_LAMBDA"] = invokeEndpoint }
        for name in cold.keys { cold[name]?.environment["AWS_ENDPOINT_URL_LAMBDA"] = invokeEndpoint }
        gateway.cold = options.cold ? cold : nil
        if let mlflow {
            let train = template.functions.first { $0.executable == "train" }
            try mlflow.start { [gateway] in
                say("MLflow is up at \(mlflow.url)")
                // What was trained before it answered (the first champion, usually) is mirrored now.
                if let train { _ = gateway.invoke(train, Data(#"{"action": "mirror"}"#.utf8), id: UUID().uuidString.lowercased(), queueTimeout: train.timeout) }
            }
            shutdown.mlflow = mlflow
            say("starting MLflow at \(mlflow.url) in the background (its log: \(mlflow.logFile.path))")
        }

        if options.bootstrap {
            try Bootstrap(gateway: gateway, options: options, dataDirectory: dataDirectory, demoBucket: containers == nil ? nil : bucket).run()
        }

        let scheduler = try Scheduler(jobs: template.jobs, historyFile: dataDirectory.appendingPathComponent("schedules/runs.jsonl")) { [gateway] functionID, payload in
            guard let function = template.function(named: functionID) else { return .crashed("no function \(functionID)") }
            if function.executable == "train" { metrics.increment("training_runs_total", ["schedule"]) }
            let outcome = gateway.invoke(function, payload, id: UUID().uuidString.lowercased(), queueTimeout: function.timeout)
            gateway.observeTrainingEnded(function)
            return outcome
        }
        scheduler.onRunFinished = { run in metrics.increment("schedule_runs_total", [run.schedule, run.status]) }
        gateway.scheduler = scheduler
        if options.scheduler { scheduler.start() }
        shutdown.scheduler = scheduler
        shutdown.pools = Array(pools.values)

        server.serve()
        try? Endpoints(gateway: base, s3: s3Endpoint).save(in: dataDirectory)
        print("gateway \(base)")
        print("s3      \(s3Endpoint)")
        print("ui      \(base)/")
        if let mlflow { print("mlflow  \(mlflow.url)") }
        say("""
            \(template.functions.map(\.routes.count).reduce(0, +)) routes from \(options.template)\(options.cold ? " (cold mode: one process per invocation)" : ""); \
            invoke API at \(base)/2015-03-31/functions/{name}/invocations; schedules: \(template.jobs.map { "\($0.name) \($0.expression)" }.joined(separator: ", "))\(options.scheduler ? "" : " (not fired: --no-scheduler)")
            try:  curl -s -X POST \(base)/predict/ -d '{"user_id": 1, "top_n": 5}'
            aws:  eval "$(\(CommandLine.arguments[0]) credentials --data-dir \(options.dataDirectory))"; aws s3 ls s3://\(bucket)/ --recursive
            """)
        fflush(stdout)
        // Idle workers are looked for twice per idle timeout (every 30 s at most).
        let interval = UInt32(max(1, min(30, options.idleTimeout / 2)) * 1_000_000)
        while true {
            usleep(interval)
            for pool in pools.values { pool.reclaim(idleFor: options.idleTimeout) }
        }
    }

    /// Progress for the person who started the runner (stderr: stdout carries the URLs).
    static func say(_ text: String) {
        FileHandle.standardError.write(Data("local-runner: \(text)\n".utf8))
    }

    static func reachable(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
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

    /// Pools add and remove from many threads; only the signal handler reads without it.
    static let lock = NSLock()

    static func add(_ pid: Int32) {
        lock.lock(); defer { lock.unlock() }
        _ = initialized
        for index in 0..<1024 where slots[index] == 0 { slots[index] = pid; return }
    }

    static func remove(_ pid: Int32) {
        lock.lock(); defer { lock.unlock() }
        _ = initialized
        for index in 0..<1024 where slots[index] == pid { slots[index] = 0 }
    }

    static func terminateAll() {
        for index in 0..<1024 where slots[index] > 0 { kill(slots[index], SIGTERM) }
    }
}
