import CCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The MovieLens datasets GroupLens publishes, imported by name (`{"dataset": "ml-25m"}`).
/// We download them; we never ship them: the MovieLens licence forbids redistribution.
public enum MovieLensDataset: String, CaseIterable, Sendable {
    case mlLatestSmall = "ml-latest-small"
    case ml100k = "ml-100k"
    case ml1m = "ml-1m"
    case ml20m = "ml-20m"
    case ml25m = "ml-25m"
    case ml32m = "ml-32m"

    var archive: String { rawValue + ".zip" }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Where the zips come from and where they are kept between imports.
///
/// - `MOVIELENS_BASE_URL`: GroupLens's directory by default; a mirror's, or a test server's.
/// - `MOVIELENS_CACHE`: a local directory (the runner gives one under its data directory), or
///   `s3://bucket/prefix/` for a deployed stack, whose functions keep nothing between invocations.
///
/// A zip is fetched once: into `NAME.zip.partial`, resumed with a `Range` request when a
/// download was cut off; checked against the MD5 GroupLens publishes beside it (`NAME.zip.md5`)
/// and against its own central directory; and only then renamed to `NAME.zip`. A file that
/// fails a check is deleted, so the next import downloads it afresh and nothing is left half-true.
public struct MovieLensMirror: Sendable {
    static let groupLens = "https://files.grouplens.org/datasets/movielens/"

    public enum Cache: Sendable {
        case directory(String)
        case bucket(String, prefix: String)
    }

    var baseURL: String
    var cache: Cache

    public init(baseURL: String, cache: Cache) {
        self.baseURL = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
        self.cache = cache
    }

    public static func fromEnvironment() throws(FunctionError) -> MovieLensMirror {
        let base = environment("MOVIELENS_BASE_URL") ?? groupLens
        let configured = environment("MOVIELENS_CACHE") ?? ""
        if configured.hasPrefix("s3://") {
            var (bucket, prefix) = try S3Client.parse(url: configured)
            if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
            return MovieLensMirror(baseURL: base, cache: .bucket(bucket, prefix: prefix))
        }
        return MovieLensMirror(baseURL: base, cache: .directory(configured.isEmpty ? "/tmp/movierec-movielens" : configured))
    }

    /// The zip's URL: what the import records as its source.
    func url(of dataset: MovieLensDataset) -> String { baseURL + dataset.archive }

    /// The dataset's files in a new local directory, and what removes that directory.
    func unpacked(_ dataset: MovieLensDataset, storage: (() throws(FunctionError) -> S3Client)?) throws(FunctionError) -> (String, () -> Void) {
        switch cache {
        case .directory(let directory):
            try makeDirectory(directory)
            let lock = try CacheLock(directory + "/" + dataset.archive + ".lock")
            defer { lock.release() }
            let zip = directory + "/" + dataset.archive
            let cached = access(zip, R_OK) == 0
            if cached {
                Log.info("using the cached \(dataset.archive)", ["path": .string(zip)])
            } else {
                try download(dataset, to: zip)
            }
            // Unpacked beside the cache, not in /tmp: ml-32m is a gigabyte of CSV.
            do {
                return try extract(zip, label: dataset.archive, into: try DatasetSource.temporaryDirectory(directory + "/unpacked-XXXXXX"))
            } catch where error.code == "bad_download" {
                // A cached zip damaged since it was checked: gone, so the next import fetches it again.
                unlink(zip)
                throw error
            }
        case .bucket(let bucket, let prefix):
            guard let storage else { throw FunctionError.dependencyDown("MOVIELENS_CACHE is \(bucket)/\(prefix) but no artifact store is configured") }
            let client = try storage()
            let key = prefix + dataset.archive
            let work = try DatasetSource.temporaryDirectory("/tmp/movierec-movielens-XXXXXX")
            let zip = work + "/" + dataset.archive
            do {
                // Listed, not HEADed: the function may list only under datasets/, and S3 answers a
                // HEAD of a missing key without list permission on the whole bucket with 403, not 404.
                if try client.list(bucket: bucket, prefix: key).contains(where: { $0.key == key }) {
                    Log.info("using the cached \(dataset.archive)", ["key": .string("s3://\(bucket)/\(key)")])
                    try client.download(bucket: bucket, key: key, to: zip)
                } else {
                    try download(dataset, to: zip)
                    try client.putFile(zip, bucket: bucket, key: key, contentType: "application/zip")
                }
                let (directory, cleanup) = try extract(zip, label: dataset.archive, into: try DatasetSource.temporaryDirectory(work + "/unpacked-XXXXXX"))
                unlink(zip)
                return (directory, { cleanup(); rmdir(work) })
            } catch {
                unlink(zip); unlink(zip + ".partial"); rmdir(work)
                throw error
            }
        }
    }

    // MARK: downloading

    /// Downloads and checks the zip, leaving it at `destination` only when it is whole.
    func download(_ dataset: MovieLensDataset, to destination: String) throws(FunctionError) {
        let http = HTTPClient()
        let expected = try publishedChecksum(dataset, http: http)
        let partial = destination + ".partial"
        let url = url(of: dataset)
        for attempt in 0..<2 {
            let resumeAt = fileSize(partial) ?? 0
            var headers: [String: String] = [:]
            if resumeAt > 0 { headers["Range"] = "bytes=\(resumeAt)-" }
            Log.info(resumeAt > 0 ? "resuming \(dataset.archive) at byte \(resumeAt)" : "downloading \(dataset.archive)", ["url": .string(url)])
            let progress = DownloadProgress(name: dataset.archive, offset: resumeAt)
            let response: HTTPClient.Response
            do {
                response = try http.send("GET", url: url, headers: headers, sink: .resumableFile(path: partial), timeout: nil,
                                         download: HTTPClient.Download(progress: progress.report))
            } catch {
                // What arrived stays in the .partial file: the next import resumes from there.
                let kept = fileSize(partial) ?? 0
                throw FunctionError.dependencyDown(
                    "the download of \(dataset.archive) from \(url) was interrupted (\(error.message)); "
                    + (kept > 0 ? "\(kept) bytes are kept and the next import resumes from there" : "nothing was kept"),
                    details: ["dataset": .string(dataset.rawValue), "bytes_kept": .number(Double(kept))])
            }
            if response.status == 416 && attempt == 0 {
                // The partial file is not a prefix of what the server has now: start again.
                unlink(partial)
                continue
            }
            guard response.status == 200 || response.status == 206 else {
                unlink(partial)
                throw FunctionError(status: 502, code: "download_failed",
                                    message: "\(url) answered HTTP \(response.status); is \(dataset.rawValue) published at \(baseURL)?",
                                    details: ["dataset": .string(dataset.rawValue), "status": .number(Double(response.status))])
            }
            break
        }
        do throws(FunctionError) {
            if let expected {
                let actual = try Self.md5(of: partial)
                guard actual == expected else {
                    throw FunctionError(status: 502, code: "bad_download",
                                        message: "\(dataset.archive) does not match the checksum published beside it (MD5 \(actual), expected \(expected)); it was deleted, so the next import downloads it afresh",
                                        details: ["dataset": .string(dataset.rawValue)])
                }
            }
            _ = try ZipArchive(path: partial, label: dataset.archive)
        } catch {
            unlink(partial)
            throw error
        }
        guard rename(partial, destination) == 0 else {
            throw FunctionError.internal("cannot move \(partial) into place: \(String(cString: strerror(errno)))")
        }
        Log.info("downloaded \(dataset.archive)", ["bytes": .number(Double(fileSize(destination) ?? 0)),
                                                    "md5": expected.map(JSONValue.string) ?? .string("none published")])
    }

    /// The MD5 in `NAME.zip.md5`, or nil when the server publishes none. This request is also
    /// the first to reach the server, so being offline is reported here, before anything changes.
    private func publishedChecksum(_ dataset: MovieLensDataset, http: HTTPClient) throws(FunctionError) -> String? {
        let url = url(of: dataset) + ".md5"
        let response: HTTPClient.Response
        do {
            response = try http.send("GET", url: url, timeout: 30, download: HTTPClient.Download())
        } catch {
            throw FunctionError.dependencyDown(
                "cannot reach \(baseURL) to download \(dataset.rawValue): \(error.message). Offline, import an unzipped copy you have "
                + "({\"source\": \"/path/to/\(dataset.rawValue)\"}, or local-runner --dataset /path/to/\(dataset.rawValue)) "
                + "or the synthetic demo (local-runner --demo-ratings 1000000)",
                details: ["dataset": .string(dataset.rawValue)])
        }
        if response.status == 404 || response.status == 403 { return nil }
        guard response.status == 200 else {
            throw FunctionError(status: 502, code: "download_failed", message: "\(url) answered HTTP \(response.status)")
        }
        // GroupLens's files read "MD5 (ml-25m.zip) = 6b51…" or "6b51…  ml-25m.zip".
        let text = String(decoding: response.body.prefix(4096), as: UTF8.self)
        let hex = Set("0123456789abcdef")
        for word in text.split(whereSeparator: { $0.isWhitespace || "=()".contains($0) }) {
            let lower = word.lowercased()
            if lower.count == 32, lower.allSatisfy(hex.contains) { return lower }
        }
        throw FunctionError(status: 502, code: "bad_download", message: "\(url) holds no MD5 checksum")
    }

    static func md5(of path: String) throws(FunctionError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FunctionError.internal("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let context = EVP_MD_CTX_new() else { throw FunctionError.internal("libcrypto: no digest context") }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_md5(), nil)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n >= 0 else { throw FunctionError.internal("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            EVP_DigestUpdate(context, buffer, n)
        }
        var digest = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
    }

    // MARK: unpacking

    /// The names the importer reads: the CSV layout and the ml-1m / ml-100k files.
    static let wantedFiles = Set(DatasetFile.allCases.map(\.rawValue) + ["ratings.dat", "movies.dat", "u.data", "u.item"])

    /// Extracts the dataset's files (by base name, wherever the zip keeps them) into `directory`.
    func extract(_ zip: String, label: String, into directory: String) throws(FunctionError) -> (String, () -> Void) {
        var written: [String] = []
        let cleanup = {
            for path in written { unlink(path) }
            rmdir(directory)
        }
        do throws(FunctionError) {
            let archive = try ZipArchive(path: zip, label: label)
            var seen = Set<String>()
            for entry in archive.entries where !entry.isDirectory && !entry.name.hasPrefix("__MACOSX/") {
                let name = String(entry.baseName)
                guard Self.wantedFiles.contains(name) else { continue }
                guard seen.insert(name).inserted else { throw ZipArchive.corrupt(label, "it holds \(name) twice") }
                let path = directory + "/" + name
                Log.info("unpacking \(entry.name)", ["bytes": .number(Double(entry.size))])
                written.append(path)
                try archive.extract(entry, to: path)
            }
            guard seen.contains("ratings.csv") || seen.contains("ratings.dat") || seen.contains("u.data") else {
                throw FunctionError(status: 502, code: "bad_download", message: "\(label) holds no MovieLens ratings file (ratings.csv, ratings.dat or u.data)")
            }
        } catch {
            cleanup()
            throw error
        }
        return (directory, cleanup)
    }

    // MARK: helpers

    private func makeDirectory(_ path: String) throws(FunctionError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw FunctionError.internal("cannot create the MovieLens cache \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func fileSize(_ path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }
}

/// One download per cached name at a time, across processes (flock on a lock file beside it).
private struct CacheLock {
    let descriptor: Int32
    init(_ path: String) throws(FunctionError) {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FunctionError.internal("cannot open \(path): \(String(cString: strerror(errno)))") }
        flock(descriptor, LOCK_EX)
    }
    func release() { flock(descriptor, LOCK_UN); close(descriptor) }
}

/// Progress on stderr, every tenth of the file (or every 32 MB when its size is unknown).
private final class DownloadProgress {
    let name: String
    let offset: Int64
    var nextReport: Int64 = 0

    init(name: String, offset: Int64) { self.name = name; self.offset = offset }

    func report(_ received: Int64, _ length: Int64?) {
        let total = length.map { $0 + offset }
        let done = received + offset
        guard done >= nextReport else { return }
        let step = total.map { max($0 / 10, 1) } ?? 32 << 20
        nextReport = (done / step + 1) * step
        let megabytes = { (bytes: Int64) in String(Double(bytes / 100_000) / 10) }
        if let total {
            Log.info("downloading \(name): \(done * 100 / max(total, 1))% (\(megabytes(done)) of \(megabytes(total)) MB)")
        } else {
            Log.info("downloading \(name): \(megabytes(done)) MB")
        }
    }
}
