import Foundation
import Testing
@testable import Core

/// The S3 client against moto_server, an S3 implementation we did not write.
@Suite struct S3ClientTests {
    @Test func putGetHeadDeleteSmallObjects() throws {
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        let body = Data("hello, artifacts".utf8)
        try client.put(body, bucket: bucket, key: "models/v1/metrics.json", contentType: "application/json")
        #expect(try client.get(bucket: bucket, key: "models/v1/metrics.json") == body)
        #expect(try client.get(bucket: bucket, key: "models/v1/metrics.json", range: 7...15) == Data("artifacts".utf8))
        let head = try client.head(bucket: bucket, key: "models/v1/metrics.json")
        #expect(head?.size == Int64(body.count))
        #expect(head?.etag?.hasPrefix("\"") == true)
        try client.delete(bucket: bucket, key: "models/v1/metrics.json")
        #expect(try client.head(bucket: bucket, key: "models/v1/metrics.json") == nil)
    }

    @Test func keysWithSpacesAndUnicodeRoundTrip() throws {
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        let key = "reports/drift/Ünïcode report 1+1=2.html"
        try client.put(Data("x".utf8), bucket: bucket, key: key)
        #expect(try client.get(bucket: bucket, key: key) == Data("x".utf8))
        #expect(try client.list(bucket: bucket, prefix: "reports/").map(\.key) == [key])
    }

    @Test func aMissingKeyIsNotFound() throws {
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        do { _ = try client.get(bucket: bucket, key: "nothing/here"); Issue.record("got an object") } catch {
            #expect(error.status == 404)
            #expect(error.details["s3_code"] == .string("NoSuchKey"))
        }
        do { _ = try client.get(bucket: "no-such-bucket-here", key: "x"); Issue.record("got an object") } catch {
            #expect(error.status == 404)
        }
    }

    @Test func listingFollowsContinuationTokens() throws {
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        for index in 0..<7 { try client.put(Data([UInt8(index)]), bucket: bucket, key: "runs/\(index).json") }
        try client.put(Data(), bucket: bucket, key: "other/x")
        let listed = try client.list(bucket: bucket, prefix: "runs/", pageSize: 2)
        #expect(listed.map(\.key) == (0..<7).map { "runs/\($0).json" })
        #expect(listed.allSatisfy { $0.size == 1 })
    }

    @Test func fiftyMegabytesGoMultipartAndComeBackIntact() throws {
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        let directory = TestServices.temporaryDirectory()
        let source = directory + "/big.bin", copy = directory + "/copy.bin"
        var generator = SeededGenerator(seed: 5)
        var data = Data(count: 50 << 20)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices { words[index] = generator.next() }
        }
        try data.write(to: URL(fileURLWithPath: source))
        try client.putFile(source, bucket: bucket, key: "models/big.bin")
        let head = try client.head(bucket: bucket, key: "models/big.bin")
        #expect(head?.size == 50 << 20)
        #expect(head?.etag?.hasSuffix("-7\"") == true)  // 7 parts of 8 MiB: S3's multipart ETag
        try client.download(bucket: bucket, key: "models/big.bin", to: copy)
        #expect(try ContentHash.file(copy).hash == ContentHash.file(source).hash)
        let tail = try client.get(bucket: bucket, key: "models/big.bin", range: Int64(50 << 20) - 16...Int64(50 << 20) - 1)
        #expect(tail == data.suffix(16))
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test func downloadingAMissingKeyWritesNoFile() throws {
        let client = try TestServices.s3Client()
        let bucket = try TestServices.freshBucket(client)
        let path = TestServices.temporaryDirectory() + "/missing.bin"
        #expect(throws: FunctionError.self) { try client.download(bucket: bucket, key: "missing.bin", to: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test(arguments: ["", "/abs", "a/../b", "../etc/passwd", "a/./b", "bad\u{01}key"])
    func unsafeKeysAreRefused(key: String) throws {
        #expect(throws: FunctionError.self) { try S3Client.validateKey(key) }
    }

    @Test func unreachableEndpointIs503() throws {
        let client = S3Client(S3Configuration(endpoint: "http://127.0.0.1:\(freePort())", region: "us-east-1",
                                                  accessKey: TestServices.credentials.key, secretKey: TestServices.credentials.secret))
        do { _ = try client.get(bucket: "abc", key: "x"); Issue.record("reached nothing") } catch { #expect(error.status == 503) }
    }
}
