import Foundation

/// `--containers`: every warm worker is a container of its function's image (what `sam local`
/// does with Docker, except that the workers stay warm). The container runs the image's
/// entrypoint in Runtime API mode against the worker's own endpoint, with Lambda's limits:
/// its memory size, 1024 open files and 1024 processes.
struct ContainerWorkers: Sendable {
    /// The engine's command, e.g. `podman` or `podman --runtime runc`.
    var engine: [String]
    /// The image of a function, with `{function}` for its executable's name
    /// (`localhost/movierec/{function}:latest`).
    var imagePattern: String

    init(engine command: String, imagePattern: String) throws {
        let words = command.split(separator: " ").map(String.init)
        guard let program = words.first else { throw RunnerError("--container-engine is empty") }
        guard let path = Self.resolve(program) else { throw RunnerError("--containers: no \(program) on PATH; install it (apt-get install podman runc) or pass --container-engine") }
        guard imagePattern.contains("{function}") else {
            throw RunnerError("--containers takes an image name with {function} in it, e.g. localhost/movierec/{function}:latest")
        }
        engine = [path] + Array(words.dropFirst())
        self.imagePattern = imagePattern
    }

    func image(of function: Template.Function) -> String {
        imagePattern.replacingOccurrences(of: "{function}", with: function.executable)
    }

    /// What a container receives of the worker's environment: the function's own settings,
    /// never the runner's PATH, HOME or anything else of this machine.
    static let passed: Set<String> = ["DATABASE_URL", "ARTIFACT_BUCKET", "S3_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID",
                                      "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_LAMBDA", "AWS_LAMBDA_RUNTIME_API",
                                      "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "MODEL_CACHE_DIR", "MOVIEREC_FILE_ROOTS"]

    /// The engine's arguments for one worker. Values travel in the engine's environment
    /// (`-e NAME` copies one), so secrets never appear in a process listing.
    func runArguments(_ function: Template.Function, name: String, pidFile: String, environment: [String: String]) -> [String] {
        var arguments = Array(engine.dropFirst()) + [
            "run", "--rm", "--name", name, "--pidfile", pidFile,
            // The worker reaches its Runtime API endpoint, the runner's S3 and PostgreSQL on loopback.
            "--network", "host",
            "--memory", "\(function.memoryMB)m",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        ]
        for key in environment.keys.sorted() where Self.passed.contains(key) || function.environment[key] != nil {
            arguments += ["-e", key]
        }
        arguments.append(image(of: function))
        return arguments
    }

    /// Ends a container whatever it is doing (the engine client's death would not).
    func kill(_ name: String) {
        _ = try? Subprocess.run(engine[0], Array(engine.dropFirst()) + ["rm", "--force", "--time", "0", name])
    }

    /// True when the image is there to run.
    func hasImage(of function: Template.Function) -> Bool {
        (try? Subprocess.run(engine[0], Array(engine.dropFirst()) + ["image", "exists", image(of: function)])) != nil
    }

    private static func resolve(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
