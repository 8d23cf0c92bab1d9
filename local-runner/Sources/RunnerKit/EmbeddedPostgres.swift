import Foundation

/// A private PostgreSQL under the data directory, for starting on embedded defaults: created
/// with initdb on first start, listening on a unix socket in a 0700 directory only (no TCP
/// port, so nothing else on the machine can reach it and it needs no password), stopped with
/// a fast shutdown when the runner stops.
struct EmbeddedPostgres {
    let directory: URL
    let binaries: URL
    let database = "movierec"
    let port = 5432

    var dataDirectory: URL { directory.appendingPathComponent("postgres") }
    var socketDirectory: URL { directory.appendingPathComponent("postgres-socket") }
    var logFile: URL { directory.appendingPathComponent("logs/postgres.log") }
    var url: String { "postgresql:///\(database)?host=\(socketDirectory.path)&port=\(port)&user=postgres" }

    init(directory: URL) throws {
        self.directory = directory
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let newest = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(newest)/bin/initdb") else {
            throw RunnerError("no PostgreSQL server found under \(root); install it (apt-get install postgresql) or set DATABASE_URL to a database of yours")
        }
        binaries = URL(fileURLWithPath: "\(root)/\(newest)/bin")
    }

    /// PostgreSQL refuses to run as root; when we are root, its files and processes belong to
    /// the `postgres` user that Debian's package creates.
    var asRoot: Bool { getuid() == 0 }

    func start() throws {
        let fileManager = FileManager.default
        for folder in [dataDirectory, socketDirectory, logFile.deletingLastPathComponent()] {
            try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
            if asRoot { try Subprocess.run("/bin/chown", ["postgres", folder.path]) }
        }
        chmod(socketDirectory.path, 0o700)
        chmod(dataDirectory.path, 0o700)
        if asRoot { try letPostgresIn() }
        if !fileManager.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            try runAsOwner("initdb", ["-D", dataDirectory.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions"], what: "create the database cluster")
        }
        if (try? runAsOwner("pg_ctl", ["-D", dataDirectory.path, "status"], what: "check the server")) == nil {
            try runAsOwner("pg_ctl", ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60",
                                      "-o", "-c listen_addresses='' -c unix_socket_directories='\(socketDirectory.path)' -p \(port)", "start"],
                           what: "start PostgreSQL (its log: \(logFile.path))")
        }
        let exists = try Subprocess.run(binaries.appendingPathComponent("psql").path,
                             ["-X", "-q", "-t", "-A", "-h", socketDirectory.path, "-p", String(port), "-U", "postgres", "-d", "postgres",
                              "-c", "SELECT 1 FROM pg_database WHERE datname = '\(database)'"])
        if exists.trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
            try Subprocess.run(binaries.appendingPathComponent("createdb").path, ["-h", socketDirectory.path, "-p", String(port), "-U", "postgres", database])
        }
    }

    /// As root, the server runs as `postgres`, which must be able to pass through every folder
    /// above its cluster. A data directory made by `mktemp -d` (0700) or under a private home
    /// stops it; such folders that we own get an ACL entry letting `postgres` pass through (and
    /// nothing more), said aloud; otherwise the error says what to run.
    private func letPostgresIn() throws {
        guard let account = getpwnam("postgres") else { throw RunnerError("the embedded PostgreSQL runs as the postgres user, and there is none: install postgresql, or set DATABASE_URL") }
        let uid = account.pointee.pw_uid, gid = account.pointee.pw_gid
        var blocking: [String] = []
        var folder = directory.standardizedFileURL
        while true {
            var info = stat()
            if stat(folder.path, &info) == 0 {
                let passes = info.st_uid == uid ? info.st_mode & S_IXUSR != 0 : info.st_gid == gid ? info.st_mode & S_IXGRP != 0 : info.st_mode & S_IXOTH != 0
                if !passes { blocking.append(folder.path) }
            }
            if folder.path == "/" { break }
            folder = folder.deletingLastPathComponent()
        }
        guard !blocking.isEmpty else { return }
        let setfacl = ["/usr/bin/setfacl", "/bin/setfacl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if let setfacl {
            for path in blocking { _ = try? Subprocess.run(setfacl, ["-m", "u:postgres:x", path]) }
            LocalRunner.say("let the postgres user pass through \(blocking.joined(separator: ", ")) (setfacl -m u:postgres:x), as the embedded PostgreSQL runs as postgres")
            if (try? Subprocess.run("/bin/su", ["postgres", "-s", "/bin/sh", "-c", "test -x \(Self.shellQuoted(dataDirectory.path))"])) != nil { return }
        }
        let fix = blocking.map { "chmod o+x \(Self.shellQuoted($0))" }.joined(separator: "; ")
        throw RunnerError("""
            the embedded PostgreSQL runs as the postgres user (PostgreSQL refuses to run as root), and postgres cannot enter \(blocking.joined(separator: ", ")). \
            Fix: \(fix) (or setfacl -m u:postgres:x on them), or choose a --data-dir that others can pass through, or set DATABASE_URL to a database of yours
            """)
    }

    func stop() {
        _ = try? runAsOwner("pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"], what: "stop PostgreSQL")
    }

    @discardableResult
    private func runAsOwner(_ tool: String, _ arguments: [String], what: String) throws -> String {
        let path = binaries.appendingPathComponent(tool).path
        do {
            if asRoot {
                let command = ([path] + arguments).map(Self.shellQuoted).joined(separator: " ")
                return try Subprocess.run("/bin/su", ["postgres", "-s", "/bin/sh", "-c", command])
            }
            return try Subprocess.run(path, arguments)
        } catch {
            throw RunnerError("could not \(what): \(error)")
        }
    }

    static func shellQuoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
