/// The nightly pipeline's first step (`{"action": "health"}` on the ingest function): the
/// database answers, the artifact bucket is reachable, and the champion (when there is one)
/// downloads, matches its checksum and maps. A function action rather than runner code, so the
/// same step guards the deployed state machine. Any failure is a 503 naming each check, and the
/// pipeline stops there, before it generates or trains anything.
public enum Health {
    public struct Report: Codable, Sendable {
        public var status: String
        public var database: String
        public var storage: String
        /// "none yet", "v<version> loadable", or the reason it is not.
        public var champion: String
    }

    public static func check(database: () throws(FunctionError) -> Database,
                             store: () throws(FunctionError) -> ArtifactStore) throws(FunctionError) -> Report {
        var failures: [String: JSONValue] = [:]
        var report = Report(status: "ok", database: "ok", storage: "ok", champion: "none yet")
        var connected: Database?
        do throws(FunctionError) {
            let db = try database()
            _ = try db.execute("SELECT 1")
            connected = db
        } catch {
            report.database = error.message
            failures["database"] = .string(error.message)
        }
        var artifacts: ArtifactStore?
        do throws(FunctionError) {
            let bucket = try store()
            guard try bucket.client.bucketExists(bucket.bucket) else {
                throw FunctionError.dependencyDown("the artifact bucket '\(bucket.bucket)' does not exist")
            }
            artifacts = bucket
        } catch {
            report.storage = error.message
            failures["storage"] = .string(error.message)
        }
        if let connected {
            do throws(FunctionError) {
                // A fresh cache with no look-up interval: this checks the registry and the file now.
                let loaded = try ChampionCache(checkInterval: 0).champion(database: connected) { () throws(FunctionError) -> ArtifactStore in
                    guard let artifacts else { throw FunctionError.dependencyDown("storage is unreachable") }
                    return artifacts
                }
                if let loaded { report.champion = "v\(loaded.version) loadable" }
            } catch {
                report.champion = error.message
                failures["champion"] = .string(error.message)
            }
        } else {
            report.champion = "not checked: no database"
            failures["champion"] = .string(report.champion)
        }
        guard failures.isEmpty else {
            let reasons = failures.keys.sorted().map { "\($0): \(failures[$0]?.stringValue ?? "")" }.joined(separator: "; ")
            throw FunctionError.dependencyDown("health check failed: \(reasons)", details: failures)
        }
        return report
    }
}
