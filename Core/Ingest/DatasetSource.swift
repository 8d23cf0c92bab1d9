#if canImport(Glibc)
import Glibc
#endif

/// Resolves an import source to a local directory: used as is when local, downloaded
/// (streamed to a temporary directory, removed afterwards) when it is `s3://bucket/prefix/`.
enum DatasetSource {
    static func localDirectory(for source: String, storage: (() throws(FunctionError) -> S3Client)?) throws(FunctionError) -> (String, () -> Void) {
        if !source.hasPrefix("s3://") {
            var info = stat()
            guard stat(source, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw FunctionError.invalidInput("source '\(source)' is not a directory; give a local directory or s3://bucket/prefix/")
            }
            return (source, {})
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
        var template = Array("/tmp/movierec-import-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FunctionError.internal("cannot make a temporary directory") }
        let directory = String(cString: made)
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
}
