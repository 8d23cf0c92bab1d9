import Crypto
import Foundation

/// Buckets and objects on disk under one root, thread-safe behind one lock.
///
///     <root>/buckets/<bucket>/bucket.json          creation date
///     <root>/buckets/<bucket>/meta/<id>.json       ObjectMetadata (the commit point)
///     <root>/buckets/<bucket>/data/<id>-<version>  the bytes
///     <root>/buckets/<bucket>/uploads/<uploadId>/  upload.json, part-N, part-N.json
///
/// `<id>` is the SHA-256 hex of the key, so a key (`../../etc/passwd`, NUL-free unicode,
/// 1024 bytes) is never a path: nothing a client sends can name a file outside the bucket.
/// Bucket names are validated to S3's rules (no '/', no '..') before they name a directory,
/// and upload ids must be the hex the store made. Writes go to a fresh file and become
/// visible when the sidecar is renamed over the old one (atomic on POSIX).
final class ObjectStore: @unchecked Sendable {
    let root: URL
    /// S3's minimum size of every part but the last (5 MiB); tests may lower it.
    let minimumPartSize: Int64
    /// S3's bound on the parts of one upload.
    static let maximumParts = 10_000
    private let lock = NSLock()
    private var buckets: [String: Bucket] = [:]
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    struct Bucket {
        var created: Double
        var objects: [String: ObjectMetadata]
    }

    private struct BucketFile: Codable { var created: Double }

    init(root: URL, minimumPartSize: Int64 = 5 << 20) throws {
        self.root = root.appendingPathComponent("buckets", isDirectory: true)
        self.minimumPartSize = minimumPartSize
        try FileManager.default.createDirectory(at: self.root, withIntermediateDirectories: true)
        try load()
    }

    // MARK: paths

    private func bucketURL(_ bucket: String) -> URL { root.appendingPathComponent(bucket, isDirectory: true) }
    private func dataURL(_ bucket: String, _ file: String) -> URL { bucketURL(bucket).appendingPathComponent("data").appendingPathComponent(file) }
    private func metaURL(_ bucket: String, key: String) -> URL { bucketURL(bucket).appendingPathComponent("meta").appendingPathComponent(Self.fileID(key) + ".json") }
    private func uploadURL(_ bucket: String, _ uploadID: String) -> URL { bucketURL(bucket).appendingPathComponent("uploads").appendingPathComponent(uploadID, isDirectory: true) }

    static func fileID(_ key: String) -> String { Digest.sha256Hex(key) }
    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Digest.hex((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Reads every bucket's sidecars; removes temporary files a crash left behind and data
    /// files no sidecar names (both invisible to clients).
    private func load() throws {
        let manager = FileManager.default
        for name in try manager.contentsOfDirectory(atPath: root.path) {
            guard (try? S3Names.validateBucket(name)) != nil else { continue }
            let bucketFile = bucketURL(name).appendingPathComponent("bucket.json")
            guard let data = try? Data(contentsOf: bucketFile), let info = try? JSONDecoder().decode(BucketFile.self, from: data) else { continue }
            var objects: [String: ObjectMetadata] = [:]
            let metaDirectory = bucketURL(name).appendingPathComponent("meta")
            for file in (try? manager.contentsOfDirectory(atPath: metaDirectory.path)) ?? [] {
                let url = metaDirectory.appendingPathComponent(file)
                if file.hasPrefix(".tmp-") { try? manager.removeItem(at: url); continue }
                guard let data = try? Data(contentsOf: url), let meta = try? JSONDecoder().decode(ObjectMetadata.self, from: data) else { continue }
                objects[meta.key] = meta
            }
            let referenced = Set(objects.values.map(\.dataFile))
            let dataDirectory = bucketURL(name).appendingPathComponent("data")
            for file in (try? manager.contentsOfDirectory(atPath: dataDirectory.path)) ?? [] where !referenced.contains(file) {
                try? manager.removeItem(at: dataDirectory.appendingPathComponent(file))
            }
            buckets[name] = Bucket(created: info.created, objects: objects)
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Writes `data` to a temporary file in `directory`, then renames it to `name`.
    private func writeAtomically(_ data: Data, directory: URL, name: String) throws {
        let temporary = directory.appendingPathComponent(".tmp-\(Self.randomHex(8))")
        try data.write(to: temporary)
        guard rename(temporary.path, directory.appendingPathComponent(name).path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw S3Error.internalError("cannot rename into \(directory.path): \(reason)")
        }
    }

    // MARK: buckets

    /// True when the bucket was made, false when it already existed.
    @discardableResult
    func createBucket(_ name: String) throws -> Bool {
        try S3Names.validateBucket(name)
        return try locked {
            if buckets[name] != nil { return false }
            let url = bucketURL(name)
            for directory in ["data", "meta", "uploads"] {
                try FileManager.default.createDirectory(at: url.appendingPathComponent(directory), withIntermediateDirectories: true)
            }
            let created = Date().timeIntervalSince1970
            try writeAtomically(try encoder.encode(BucketFile(created: created)), directory: url, name: "bucket.json")
            buckets[name] = Bucket(created: created, objects: [:])
            return true
        }
    }

    func bucketExists(_ name: String) -> Bool { locked { buckets[name] != nil } }

    func listBuckets() -> [(name: String, created: Double)] {
        locked { buckets.map { ($0.key, $0.value.created) }.sorted { $0.name < $1.name } }
    }

    func deleteBucket(_ name: String) throws {
        try locked {
            guard let bucket = buckets[name] else { throw S3Error.noSuchBucket(name) }
            guard bucket.objects.isEmpty else {
                throw S3Error(code: "BucketNotEmpty", status: 409, message: "The bucket you tried to delete is not empty", details: ["BucketName": name])
            }
            buckets[name] = nil
            try? FileManager.default.removeItem(at: bucketURL(name))
        }
    }

    // MARK: objects

    func metadata(bucket: String, key: String) throws -> ObjectMetadata {
        try locked {
            guard let objects = buckets[bucket]?.objects else { throw S3Error.noSuchBucket(bucket) }
            guard let meta = objects[key] else { throw S3Error.noSuchKey(key) }
            return meta
        }
    }

    /// The object's metadata and an open handle on its bytes, taken together under the lock
    /// (the handle stays valid if the object is replaced meanwhile).
    func open(bucket: String, key: String) throws -> (ObjectMetadata, FileHandle) {
        try locked {
            guard let objects = buckets[bucket]?.objects else { throw S3Error.noSuchBucket(bucket) }
            guard let meta = objects[key] else { throw S3Error.noSuchKey(key) }
            guard let handle = FileHandle(forReadingAtPath: dataURL(bucket, meta.dataFile).path) else {
                throw S3Error.internalError("the data of \(key) is missing")
            }
            return (meta, handle)
        }
    }

    /// The bytes in `range` (the whole object when nil); reads only those bytes.
    func read(bucket: String, key: String, range: ClosedRange<Int64>? = nil) throws -> (ObjectMetadata, Data) {
        let (meta, handle) = try open(bucket: bucket, key: key)
        defer { try? handle.close() }
        do {
            if let range {
                try handle.seek(toOffset: UInt64(range.lowerBound))
                return (meta, try handle.read(upToCount: Int(range.upperBound - range.lowerBound + 1)) ?? Data())
            }
            return (meta, try handle.readToEnd() ?? Data())
        } catch {
            throw S3Error.internalError("cannot read \(key): \(error)")
        }
    }

    /// Stores `data` as the object; `template` gives its content type, metadata and checksums
    /// (size, ETag, date and file are filled in here).
    @discardableResult
    func put(bucket: String, key: String, data: Data, template: ObjectMetadata) throws -> ObjectMetadata {
        try S3Names.validateKey(key)
        guard bucketExists(bucket) else { throw S3Error.noSuchBucket(bucket) }
        let file = Self.fileID(key) + "-" + Self.randomHex(8)
        do { try data.write(to: dataURL(bucket, file)) } catch { throw S3Error.internalError("cannot write \(key): \(error)") }
        var meta = template
        meta.key = key
        meta.size = Int64(data.count)
        meta.etag = Digest.hex(Digest.md5(data))
        meta.dataFile = file
        return try commit(bucket: bucket, meta: meta)
    }

    /// Makes `meta` (whose data file is written) the object's current version.
    private func commit(bucket: String, meta: ObjectMetadata) throws -> ObjectMetadata {
        var meta = meta
        meta.lastModified = (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000
        let committed: ObjectMetadata? = try locked {
            guard buckets[bucket] != nil else { return nil }
            let sidecar = metaURL(bucket, key: meta.key)
            try writeAtomically(try encoder.encode(meta), directory: sidecar.deletingLastPathComponent(), name: sidecar.lastPathComponent)
            if let old = buckets[bucket]?.objects[meta.key] { try? FileManager.default.removeItem(at: dataURL(bucket, old.dataFile)) }
            buckets[bucket]?.objects[meta.key] = meta
            return meta
        }
        guard let committed else {
            try? FileManager.default.removeItem(at: dataURL(bucket, meta.dataFile))
            throw S3Error.noSuchBucket(bucket)
        }
        return committed
    }

    /// Deletes the object; deleting a missing key succeeds, as in S3.
    func delete(bucket: String, key: String) throws {
        try locked {
            guard buckets[bucket] != nil else { throw S3Error.noSuchBucket(bucket) }
            guard let old = buckets[bucket]?.objects[key] else { return }
            try? FileManager.default.removeItem(at: metaURL(bucket, key: key))
            try? FileManager.default.removeItem(at: dataURL(bucket, old.dataFile))
            buckets[bucket]?.objects[key] = nil
        }
    }

    /// Every object, sorted by the UTF-8 bytes of its key (S3's listing order).
    func list(bucket: String) throws -> [ObjectMetadata] {
        let objects: [ObjectMetadata] = try locked {
            guard let bucket = buckets[bucket] else { throw S3Error.noSuchBucket(bucket) }
            return Array(bucket.objects.values)
        }
        return objects.map { (Array($0.key.utf8), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
    }

    /// Copies an object's bytes without holding them all in memory; `template` replaces the
    /// metadata when given (REPLACE), else the source's is kept (COPY).
    func copy(from source: (bucket: String, key: String), to target: (bucket: String, key: String), template: ObjectMetadata?) throws -> ObjectMetadata {
        try S3Names.validateKey(target.key)
        let (sourceMeta, handle) = try open(bucket: source.bucket, key: source.key)
        defer { try? handle.close() }
        guard bucketExists(target.bucket) else { throw S3Error.noSuchBucket(target.bucket) }
        let file = Self.fileID(target.key) + "-" + Self.randomHex(8)
        let url = dataURL(target.bucket, file)
        var md5 = Insecure.MD5()
        try Self.stream(from: [handle], to: url) { md5.update(data: $0) }
        var meta = template ?? sourceMeta
        meta.key = target.key
        meta.size = sourceMeta.size
        // A copy is a new single-part object; S3 keeps the multipart ETag only when the copy
        // is itself made of parts, so the ETag is the MD5 of the bytes.
        meta.etag = Digest.hex(md5.finalize())
        meta.partsCount = nil
        if template != nil || sourceMeta.checksumType == "COMPOSITE" { meta.checksums = template?.checksums ?? [:]; meta.checksumType = template?.checksumType }
        meta.dataFile = file
        return try commit(bucket: target.bucket, meta: meta)
    }

    /// Writes the handles' bytes one after the other into a new file, 1 MiB at a time,
    /// showing each block to `observe`.
    private static func stream(from handles: [FileHandle], to url: URL, observe: (Data) -> Void) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let output = FileHandle(forWritingAtPath: url.path) else {
            throw S3Error.internalError("cannot create \(url.lastPathComponent)")
        }
        defer { try? output.close() }
        do {
            for handle in handles {
                while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
                    observe(block)
                    try output.write(contentsOf: block)
                }
            }
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw S3Error.internalError("cannot write \(url.lastPathComponent): \(error)")
        }
    }

    // MARK: multipart uploads

    private func validUploadID(_ id: String) -> Bool { id.utf8.count == 32 && Digest.bytes(hex: id) != nil && id == id.lowercased() }

    private func upload(bucket: String, id: String) throws -> UploadState {
        guard bucketExists(bucket) else { throw S3Error.noSuchBucket(bucket) }
        guard validUploadID(id), let data = try? Data(contentsOf: uploadURL(bucket, id).appendingPathComponent("upload.json")),
              let state = try? JSONDecoder().decode(UploadState.self, from: data) else { throw S3Error.noSuchUpload(id) }
        return state
    }

    func createUpload(bucket: String, key: String, contentType: String, userMetadata: [String: String], headers: [String: String],
                      checksumAlgorithm: ChecksumAlgorithm?, checksumType: String?) throws -> UploadState {
        try S3Names.validateKey(key)
        guard bucketExists(bucket) else { throw S3Error.noSuchBucket(bucket) }
        let state = UploadState(uploadID: Self.randomHex(16), key: key, initiated: Date().timeIntervalSince1970, contentType: contentType,
                                userMetadata: userMetadata, headers: headers, checksumAlgorithm: checksumAlgorithm?.rawValue,
                                checksumType: checksumAlgorithm == nil ? nil : (checksumType ?? "COMPOSITE"))
        let directory = uploadURL(bucket, state.uploadID)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writeAtomically(try encoder.encode(state), directory: directory, name: "upload.json")
        return state
    }

    /// Stores a part; `checksum` is the client's value, already verified (computed here when
    /// the upload has an algorithm and the client sent none).
    func putPart(bucket: String, uploadID: String, key: String, number: Int, data: Data, checksum: String?) throws -> PartState {
        guard (1...Self.maximumParts).contains(number) else { throw S3Error.invalidArgument("Part number must be an integer between 1 and \(Self.maximumParts), inclusive") }
        let state = try upload(bucket: bucket, id: uploadID)
        guard state.key == key else { throw S3Error.noSuchUpload(uploadID) }
        var partChecksum = checksum
        if partChecksum == nil, let name = state.checksumAlgorithm, let algorithm = ChecksumAlgorithm(name: name) { partChecksum = algorithm.base64(data) }
        let part = PartState(number: number, size: Int64(data.count), etag: Digest.hex(Digest.md5(data)),
                             lastModified: Date().timeIntervalSince1970, checksum: partChecksum)
        let directory = uploadURL(bucket, uploadID)
        try locked {
            guard FileManager.default.fileExists(atPath: directory.path) else { throw S3Error.noSuchUpload(uploadID) }
            try writeAtomically(data, directory: directory, name: "part-\(number)")
            try writeAtomically(try encoder.encode(part), directory: directory, name: "part-\(number).json")
        }
        return part
    }

    func listParts(bucket: String, uploadID: String, key: String) throws -> (UploadState, [PartState]) {
        let state = try upload(bucket: bucket, id: uploadID)
        guard state.key == key else { throw S3Error.noSuchUpload(uploadID) }
        let directory = uploadURL(bucket, uploadID)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let parts = names.filter { $0.hasPrefix("part-") && $0.hasSuffix(".json") }.compactMap { name -> PartState? in
            guard let data = try? Data(contentsOf: directory.appendingPathComponent(name)) else { return nil }
            return try? JSONDecoder().decode(PartState.self, from: data)
        }
        return (state, parts.sorted { $0.number < $1.number })
    }

    func listUploads(bucket: String) throws -> [UploadState] {
        guard bucketExists(bucket) else { throw S3Error.noSuchBucket(bucket) }
        let directory = bucketURL(bucket).appendingPathComponent("uploads")
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return ids.filter(validUploadID).compactMap { try? upload(bucket: bucket, id: $0) }
            .sorted { $0.key == $1.key ? $0.initiated < $1.initiated : Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
    }

    func abortUpload(bucket: String, uploadID: String, key: String) throws {
        let state = try upload(bucket: bucket, id: uploadID)
        guard state.key == key else { throw S3Error.noSuchUpload(uploadID) }
        locked { try? FileManager.default.removeItem(at: uploadURL(bucket, uploadID)) }
    }

    /// Joins the named parts into the object. The ETag is S3's: MD5 of the concatenated binary
    /// part MD5s, then `-N`; a COMPOSITE checksum is the same construction over the parts'
    /// checksums, a FULL_OBJECT one is computed over the joined bytes.
    func completeUpload(bucket: String, uploadID: String, key: String, parts requested: [CompletedPart]) throws -> ObjectMetadata {
        let (state, stored) = try listParts(bucket: bucket, uploadID: uploadID, key: key)
        guard !requested.isEmpty else { throw S3Error.malformedXML() }
        for (previous, next) in zip(requested, requested.dropFirst()) where next.number <= previous.number {
            throw S3Error(code: "InvalidPartOrder", status: 400, message: "The list of parts was not in ascending order. Parts must be ordered by part number.", details: ["UploadId": uploadID])
        }
        let byNumber = Dictionary(stored.map { ($0.number, $0) }, uniquingKeysWith: { _, last in last })
        var chosen: [PartState] = []
        for part in requested {
            let etag = part.etag.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
            guard let found = byNumber[part.number], found.etag == etag else {
                throw S3Error(code: "InvalidPart", status: 400,
                              message: "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                              details: ["UploadId": uploadID, "PartNumber": String(part.number), "ETag": part.etag])
            }
            if let sent = part.checksum, let kept = found.checksum, sent != kept {
                throw S3Error(code: "InvalidPart", status: 400, message: "The checksum of part \(part.number) does not match the checksum uploaded with it.",
                              details: ["UploadId": uploadID, "PartNumber": String(part.number)])
            }
            chosen.append(found)
        }
        for part in chosen.dropLast() where part.size < minimumPartSize {
            throw S3Error(code: "EntityTooSmall", status: 400, message: "Your proposed upload is smaller than the minimum allowed object size.",
                          details: ["ProposedSize": String(part.size), "MinSizeAllowed": String(minimumPartSize), "PartNumber": String(part.number)])
        }
        let directory = uploadURL(bucket, uploadID)
        var handles: [FileHandle] = []
        defer { for handle in handles { try? handle.close() } }
        for part in chosen {
            guard let handle = FileHandle(forReadingAtPath: directory.appendingPathComponent("part-\(part.number)").path) else { throw S3Error.noSuchUpload(uploadID) }
            handles.append(handle)
        }
        let algorithm = state.checksumAlgorithm.flatMap { ChecksumAlgorithm(name: $0) }
        var full = algorithm.map(ChecksumState.init)
        let wantsFull = state.checksumType == "FULL_OBJECT"
        let file = Self.fileID(key) + "-" + Self.randomHex(8)
        try Self.stream(from: handles, to: dataURL(bucket, file)) { block in if wantsFull { full?.update(block) } }

        var md5s = Data()
        for part in chosen { md5s.append(Digest.bytes(hex: part.etag) ?? Data()) }
        var meta = ObjectMetadata(key: key, size: chosen.reduce(0) { $0 + $1.size }, etag: "\(Digest.hex(Digest.md5(md5s)))-\(chosen.count)",
                                  contentType: state.contentType, userMetadata: state.userMetadata, headers: state.headers,
                                  lastModified: 0, dataFile: file, partsCount: chosen.count)
        if let algorithm {
            if wantsFull, let full {
                meta.checksums[algorithm.rawValue] = full.finish().base64EncodedString()
            } else {
                var joined = Data()
                for part in chosen { joined.append(part.checksum.flatMap { Data(base64Encoded: $0) } ?? Data()) }
                meta.checksums[algorithm.rawValue] = "\(algorithm.base64(joined))-\(chosen.count)"
            }
            meta.checksumType = wantsFull ? "FULL_OBJECT" : "COMPOSITE"
        }
        let committed = try commit(bucket: bucket, meta: meta)
        locked { try? FileManager.default.removeItem(at: directory) }
        return committed
    }
}
