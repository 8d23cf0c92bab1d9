import Foundation
import Testing
@testable import Core

/// Datasets by name: real-format zips (built here from small files, as GroupLens lays them out,
/// with the MD5 file GroupLens publishes beside each) served by a local HTTP server.
@Suite struct MovieLensDownloadTests {
    static let script = LocalRunnerTests.root.appendingPathComponent("Tests/support/movielens_mirror.py").path

    /// A stand-in for files.grouplens.org: a directory over HTTP, with byte ranges and a request log.
    final class Mirror: @unchecked Sendable {
        let process: Process
        let root = TestServices.temporaryDirectory()
        let base: String

        init(cutAfter: Int? = nil) throws {
            let (process, _, output, _) = try startPiped(URL(fileURLWithPath: "/usr/bin/env"),
                                                         ["python3", MovieLensDownloadTests.script, "--root", root, "--log", root + "/requests.log",
                                                          "--parent", String(getpid())] + (cutAfter.map { ["--cut-after", String($0)] } ?? []),
                                                         environment: [:])
            self.process = process
            var line = Data()
            while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
            guard let port = Int(String(decoding: line, as: UTF8.self)) else { throw TestSetupError("the MovieLens mirror did not start") }
            base = "http://127.0.0.1:\(port)/"
        }

        deinit { process.terminate() }

        /// "GET /ml-latest-small.zip -" per request, in order.
        var requests: [String] {
            ((try? String(contentsOfFile: root + "/requests.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        func publish(_ dataset: TinyDataset = TinyDataset(), as name: String = "ml-latest-small") throws {
            let files = try dataset.write()
            let made = try runCommand(["python3", MovieLensDownloadTests.script, "--zip", files, name, root])
            guard made.status == 0 else { throw TestSetupError("cannot build \(name).zip: \(made.errors)") }
        }

        func mirror(cache: String) -> MovieLensMirror { MovieLensMirror(baseURL: base, cache: .directory(cache)) }
    }

    func importNamed(_ name: String, _ mirror: MovieLensMirror, into database: Database, force: Bool = false) throws(FunctionError) -> ImportResult {
        try DatasetImporter.run(ImportRequest(source: nil, dataset: name, force: force), database: database, storage: nil, mirror: mirror)
    }

    func expectNothingChanged(_ database: Database) throws {
        #expect(try database.execute("SELECT count(*) FROM ratings").int(0, 0) == 0)
        #expect(try database.execute("SELECT count(*) FROM movies").int(0, 0) == 0)
        #expect(try database.execute("SELECT count(*) FROM imports WHERE status = 'succeeded'").int(0, 0) == 0)
    }

    func cacheListing(_ cache: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).filter { !$0.hasSuffix(".lock") }.sorted()
    }

    @Test func aNamedDatasetIsDownloadedCheckedImportedAndThenServedFromTheCache() throws {
        let server = try Mirror()
        try server.publish()
        let cache = TestServices.temporaryDirectory()
        let (database, _) = try TestServices.migratedDatabase()
        let result = try importNamed("ml-latest-small", server.mirror(cache: cache), into: database)
        #expect(result.status == "succeeded")
        #expect(result.source == server.base + "ml-latest-small.zip")
        #expect(result.dataset == "ml-latest-small")
        #expect(result.tables["ratings"] == 7)
        #expect(result.tables["movies"] == 5)
        #expect(try database.execute("SELECT title FROM movies WHERE movie_id = 2").string(0, 0) == "Good, the Bad and the Ugly, The (1966)")
        #expect(try database.execute("SELECT source FROM imports WHERE status = 'succeeded'").string(0, 0) == server.base + "ml-latest-small.zip")
        // The checksum was fetched, then the zip; only the checked zip stays, nothing unpacked.
        #expect(server.requests == ["GET /ml-latest-small.zip.md5 -", "GET /ml-latest-small.zip -"])
        #expect(cacheListing(cache) == ["ml-latest-small.zip"])

        // A second database (a second start on a fresh PostgreSQL) imports from the cache.
        let (second, _) = try TestServices.migratedDatabase()
        let again = try importNamed("ml-latest-small", server.mirror(cache: cache), into: second)
        #expect(again.status == "succeeded")
        #expect(again.fingerprint == result.fingerprint)
        #expect(server.requests.count == 2)
        // The same database: the same files, so nothing changes unless forced.
        #expect(try importNamed("ml-latest-small", server.mirror(cache: cache), into: second).status == "unchanged")
        #expect(try importNamed("ml-latest-small", server.mirror(cache: cache), into: second, force: true).status == "succeeded")
        #expect(server.requests.count == 2)
    }

    @Test func aDeployedStackCachesTheZipInItsBucket() throws {
        let server = try Mirror()
        try server.publish()
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        let mirror = MovieLensMirror(baseURL: server.base, cache: .bucket(bucket, prefix: "datasets/movielens/"))
        let (database, _) = try TestServices.migratedDatabase()
        let first = try DatasetImporter.run(ImportRequest(source: nil, dataset: "ml-latest-small"), database: database, storage: TestServices.storage, mirror: mirror)
        #expect(first.tables["ratings"] == 7)
        let published = try Data(contentsOf: URL(fileURLWithPath: server.root + "/ml-latest-small.zip"))
        #expect(try client.get(bucket: bucket, key: "datasets/movielens/ml-latest-small.zip") == published)
        let (second, _) = try TestServices.migratedDatabase()
        let again = try DatasetImporter.run(ImportRequest(source: nil, dataset: "ml-latest-small"), database: second, storage: TestServices.storage, mirror: mirror)
        #expect(again.fingerprint == first.fingerprint)
        #expect(server.requests.count == 2)  // the checksum and the zip, once
    }

    @Test func theOlderLayoutsAreConvertedAfterUnpacking() throws {
        let server = try Mirror()
        let files = TestServices.temporaryDirectory()
        try Data("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n".utf8)
            .write(to: URL(fileURLWithPath: files + "/u.item"))
        try Data("1\t1\t5\t874965758\n2\t1\t3\t876893171\n".utf8).write(to: URL(fileURLWithPath: files + "/u.data"))
        try Data("not read\n".utf8).write(to: URL(fileURLWithPath: files + "/README"))
        let made = try runCommand(["python3", Self.script, "--zip", files, "ml-100k", server.root])
        #expect(made.status == 0)
        let (database, _) = try TestServices.migratedDatabase()
        let result = try importNamed("ml-100k", server.mirror(cache: TestServices.temporaryDirectory()), into: database)
        #expect(result.tables["ratings"] == 2)
        #expect(try database.execute("SELECT title FROM movies WHERE movie_id = 1").string(0, 0) == "Toy Story (1995)")
    }

    @Test func aChecksumMismatchChangesNothing() throws {
        let server = try Mirror()
        try server.publish()
        try Data("MD5 (ml-latest-small.zip) = 0123456789abcdef0123456789abcdef\n".utf8)
            .write(to: URL(fileURLWithPath: server.root + "/ml-latest-small.zip.md5"))
        let cache = TestServices.temporaryDirectory()
        let (database, _) = try TestServices.migratedDatabase()
        let error = #expect(throws: FunctionError.self) { try importNamed("ml-latest-small", server.mirror(cache: cache), into: database) }
        #expect(error?.code == "bad_download")
        #expect(error?.status == 502)
        #expect(error?.message.contains("does not match the checksum") == true)
        #expect(error?.message.contains("expected 0123456789abcdef0123456789abcdef") == true)
        try expectNothingChanged(database)
        #expect(cacheListing(cache).isEmpty)  // deleted: the next import downloads afresh
    }

    @Test func aTruncatedZipChangesNothing() throws {
        let server = try Mirror()
        try server.publish()
        // No checksum published (as for a mirror), so the zip's own structure must catch it.
        try FileManager.default.removeItem(atPath: server.root + "/ml-latest-small.zip.md5")
        let zip = server.root + "/ml-latest-small.zip"
        let whole = try Data(contentsOf: URL(fileURLWithPath: zip))
        try whole.prefix(whole.count * 2 / 3).write(to: URL(fileURLWithPath: zip))
        let cache = TestServices.temporaryDirectory()
        let (database, _) = try TestServices.migratedDatabase()
        let error = #expect(throws: FunctionError.self) { try importNamed("ml-latest-small", server.mirror(cache: cache), into: database) }
        #expect(error?.code == "bad_download")
        #expect(error?.message.contains("ml-latest-small.zip is truncated or not a zip") == true)
        try expectNothingChanged(database)
        #expect(cacheListing(cache).isEmpty)

        // A damaged entry (a flipped byte inside ratings.csv's data) fails its CRC, not the import half-way.
        var damaged = whole
        let at = try #require(damaged.range(of: Data("ml-latest-small/ratings.csv".utf8))).upperBound + 20
        damaged[at] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: zip))
        let second = #expect(throws: FunctionError.self) { try importNamed("ml-latest-small", server.mirror(cache: cache), into: database) }
        #expect(second?.code == "bad_download")
        try expectNothingChanged(database)
        #expect(cacheListing(cache).isEmpty)

        // An entry that inflates past the size its directory entry gives (a zip bomb's trick) stops there.
        var lying = whole
        let name = Data("ml-latest-small/ratings.csv".utf8)
        let inDirectory = try #require(lying.range(of: name, options: .backwards)).lowerBound - 46
        #expect(lying[inDirectory] == 0x50 && lying[inDirectory + 1] == 0x4B)  // "PK", a central directory header
        for offset in 0..<4 { lying[inDirectory + 24 + offset] = offset == 0 ? 10 : 0 }
        try lying.write(to: URL(fileURLWithPath: zip))
        let third = #expect(throws: FunctionError.self) { try importNamed("ml-latest-small", server.mirror(cache: cache), into: database) }
        #expect(third?.message.contains("inflates past the 10 bytes") == true, "\(String(describing: third))")
        try expectNothingChanged(database)
        #expect(cacheListing(cache).isEmpty)
    }

    @Test func anUnknownNameOrNoSourceIsRefusedBeforeAnyDownload() throws {
        let server = try Mirror()
        let (database, _) = try TestServices.migratedDatabase()
        let unknown = #expect(throws: FunctionError.self) { try importNamed("ml-30m", server.mirror(cache: TestServices.temporaryDirectory()), into: database) }
        #expect(unknown?.status == 400)
        #expect(unknown?.message == "unknown MovieLens dataset 'ml-30m': the names are ml-latest-small, ml-100k, ml-1m, ml-20m, ml-25m, ml-32m; for your own files give source")
        let neither = #expect(throws: FunctionError.self) {
            try DatasetImporter.run(ImportRequest(source: nil), database: database, storage: nil, mirror: server.mirror(cache: TestServices.temporaryDirectory()))
        }
        #expect(neither?.status == 400)
        #expect(neither?.message.hasPrefix("give source") == true)
        #expect(server.requests.isEmpty)
        try expectNothingChanged(database)
        // Over the wire, as a strict request: "dataset" alone is a whole request now.
        let decoded = try JSON.decodeRequest(ImportRequest.self, from: Data(#"{"dataset": "ml-25m"}"#.utf8))
        #expect(decoded.source == nil && decoded.dataset == "ml-25m")
    }

    @Test func offlineIsAClearErrorThatChangesNothing() throws {
        let cache = TestServices.temporaryDirectory()
        let nowhere = MovieLensMirror(baseURL: "http://127.0.0.1:\(freePort())/datasets/", cache: .directory(cache))
        let (database, _) = try TestServices.migratedDatabase()
        let error = #expect(throws: FunctionError.self) { try importNamed("ml-25m", nowhere, into: database) }
        #expect(error?.status == 503)
        #expect(error?.message.hasPrefix("cannot reach http://127.0.0.1:") == true)
        #expect(error?.message.contains("Offline, import an unzipped copy you have") == true)
        try expectNothingChanged(database)
        #expect(cacheListing(cache).isEmpty)
    }

    @Test func anInterruptedDownloadResumesWhereItStopped() throws {
        let server = try Mirror(cutAfter: 300)
        try server.publish()
        let cache = TestServices.temporaryDirectory()
        let (database, _) = try TestServices.migratedDatabase()
        let error = #expect(throws: FunctionError.self) { try importNamed("ml-latest-small", server.mirror(cache: cache), into: database) }
        #expect(error?.message.contains("was interrupted") == true)
        #expect(error?.message.contains("300 bytes are kept and the next import resumes from there") == true)
        try expectNothingChanged(database)
        #expect(cacheListing(cache) == ["ml-latest-small.zip.partial"])

        let result = try importNamed("ml-latest-small", server.mirror(cache: cache), into: database)
        #expect(result.tables["ratings"] == 7)
        #expect(server.requests.last == "GET /ml-latest-small.zip bytes=300-")
        #expect(cacheListing(cache) == ["ml-latest-small.zip"])
        let published = try Data(contentsOf: URL(fileURLWithPath: server.root + "/ml-latest-small.zip"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: cache + "/ml-latest-small.zip")) == published)
    }
}
