#if canImport(Glibc)
import Glibc
#endif

/// Resolves an import source to a local directory: used as is when local, downloaded
/// (streamed to a temporary directory, removed afterwards) when it is `s3://bucket/prefix/`,
/// fetched from GroupLens (through the MovieLens cache) when only a dataset name is given.
enum DatasetSource {
    /// What the import records as its source, the directory to read, and what removes it.
    static func resolve(_ request: ImportRequest, storage: (() throws(FunctionError) -> S3Client)?,
                        mirror: MovieLensMirror?) throws(FunctionError) -> (String, String, () -> Void) {
        if let source = request.source {
            let (directory, cleanup) = try localDirectory(for: source, storage: storage)
            return (source, directory, cleanup)
        }
        guard let name = request.dataset else {
            throw FunctionError.invalidInput("give source (a directory or s3://bucket/prefix/) or dataset (one of \(MovieLensDataset.names))",
                                             details: ["field": .string("source")])
        }
        guard let dataset = MovieLensDataset(rawValue: name) else {
            throw FunctionError.invalidInput("unknown MovieLens dataset '\(name.prefix(80))': the names are \(MovieLensDataset.names); for your own files give source",
                                             details: ["field": .string("dataset")])
        }
        let mirror = if let mirror { mirror } else { try MovieLensMirror.fromEnvironment() }
        let (unpacked, removeUnpacked) = try mirror.unpacked(dataset, storage: storage)
        do {
            let (directory, removeConverted) = try convertedIfLegacy(unpacked)
            return (mirror.url(of: dataset), directory, { removeConverted(); removeUnpacked() })
        } catch {
            removeUnpacked()
            throw error
        }
    }

    static func localDirectory(for source: String, storage: (() throws(FunctionError) -> S3Client)?) throws(FunctionError) -> (String, () -> Void) {
        if !source.hasPrefix("s3://") {
            return try convertedIfLegacy(try FileRoots.configured.directoryToRead(source, field: "source"))
        }
        guard let storage else { throw FunctionError.dependencyDown("no artifact store is configured to read \(source)") }
        let client = try storage()
        var (bucket, prefix) = try S3Client.parse(url: source)
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        let objects = try client.list(bucket: bucket, prefix: prefix)
        let wanted = Set(DatasetFile.allCases.map(\.rawValue))
        let found = objects.filter { object in
            let name = String(object.key.dropFirst(prefix.count))
            return wanted.contains(name)
        }
        guard !found.isEmpty else {
            throw FunctionError.notFound("no MovieLens files (movies.csv, ratings.csv, ...) under \(source)")
        }
        let directory = try temporaryDirectory("/tmp/movierec-import-XXXXXX")
        let cleanup = {
            for name in wanted { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        do {
            for object in found {
                let name = String(object.key.dropFirst(prefix.count))
                Log.info("downloading", ["key": .string(object.key), "bytes": .number(Double(object.size))])
                try client.download(bucket: bucket, key: object.key, to: directory + "/" + name)
            }
        } catch {
            cleanup()
            throw error
        }
        return (directory, cleanup)
    }

    /// ml-1m / ml-100k are rewritten once into the CSV layout, then imported like the rest.
    static func convertedIfLegacy(_ source: String) throws(FunctionError) -> (String, () -> Void) {
        guard let legacy = LegacyFormat.detect(source) else { return (source, {}) }
        let directory = try temporaryDirectory("/tmp/movierec-legacy-XXXXXX")
        let cleanup = {
            for name in ["movies.csv", "ratings.csv"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        Log.info("converting", ["format": .string(legacy.rawValue), "source": .string(source)])
        do { try legacy.convert(source, into: directory) } catch {
            cleanup()
            throw error
        }
        return (directory, cleanup)
    }

    static func temporaryDirectory(_ pattern: String) throws(FunctionError) -> String {
        var template = Array(pattern.utf8CString)
        guard let made = mkdtemp(&template) else { throw FunctionError.internal("cannot make a temporary directory") }
        return String(cString: made)
    }
}
