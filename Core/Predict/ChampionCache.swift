#if canImport(Glibc)
import Glibc
#endif

/// Keeps the champion mapped and current. Each call asks the registry which version is the
/// champion (one indexed query); a new champion is downloaded into the local cache directory,
/// verified against the registry's checksum, renamed into place and mapped, so a promotion is
/// served on the next request without restarting anything.
public final class ChampionCache {
    public struct Loaded {
        public var version: Int
        public var model: MappedModel
    }

    let directory: String
    private var current: Loaded?
    private var lastCheck = -Double.infinity
    /// Registry look-ups at most this often (seconds); 0 checks on every request.
    public var checkInterval: Double

    public init(directory: String = environment("MODEL_CACHE_DIR") ?? "/tmp/movierec-model-cache", checkInterval: Double = 1) {
        self.directory = directory
        self.checkInterval = checkInterval
    }

    /// The champion, or nil when the registry has none yet.
    public func champion(database: Database, store: () throws(FunctionError) -> ArtifactStore) throws(FunctionError) -> Loaded? {
        let now = monotonicSeconds()
        if let current, now - lastCheck < checkInterval { return current }
        guard let champion = try Registry(database: database).champion() else {
            current = nil
            return nil
        }
        lastCheck = now
        if let current, current.version == champion.version { return current }
        let path = try localCopy(of: champion, store: store)
        let loaded = Loaded(version: champion.version, model: try MappedModel(path: path))
        current = loaded
        Log.info("champion loaded", ["version": .number(Double(champion.version)), "algorithm": .string(champion.algorithm)])
        return loaded
    }

    /// The cached file for this version, fetched and verified when it is not there yet.
    func localCopy(of champion: ModelVersion, store: () throws(FunctionError) -> ArtifactStore) throws(FunctionError) -> String {
        mkdir(directory, 0o700)
        let path = "\(directory)/\(champion.name)-v\(champion.version)-\(champion.artifactChecksum).bin"
        if access(path, R_OK) == 0 { return path }
        let partial = path + ".part-\(getpid())"
        defer { unlink(partial) }
        let artifacts = try store()
        let bucket = champion.artifact.dropFirst(5).split(separator: "/").first.map(String.init) ?? artifacts.bucket
        do {
            try artifacts.client.download(bucket: bucket, key: champion.artifactKey, to: partial)
        } catch {
            throw FunctionError.dependencyDown("the champion model v\(champion.version) cannot be fetched from \(champion.artifact): \(error.message)")
        }
        let (hash, size) = try ContentHash.file(partial)
        guard hash == champion.artifactChecksum, size == Int64(champion.artifactSize) else {
            throw FunctionError.dependencyDown("the champion model v\(champion.version) at \(champion.artifact) is corrupt: checksum \(hash) (\(size) bytes), the registry expects \(champion.artifactChecksum) (\(champion.artifactSize) bytes)")
        }
        guard rename(partial, path) == 0 else { throw FunctionError.internal("cannot move the model into \(directory)") }
        return path
    }
}
