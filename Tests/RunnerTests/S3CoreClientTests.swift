import Core
import Foundation
import Testing
@testable import RunnerKit

/// The functions' own S3 client (libcurl, CURLOPT_AWS_SIGV4) against the runner's server:
/// what the functions will do locally.
@Suite struct S3CoreClientTests {
    func client(_ fixture: S3Fixture) -> S3Client {
        S3Client(S3Configuration(endpoint: fixture.endpoint, region: "us-east-1", accessKey: fixture.credentials.accessKeyID,
                                 secretKey: fixture.credentials.secretAccessKey))
    }

    @Test func putGetListHeadDelete() throws {
        let fixture = try S3Fixture()
        let s3 = client(fixture)
        try s3.createBucket("artifacts")
        try s3.createBucket("artifacts")  // BucketAlreadyOwnedByYou is success for this client
        #expect(try s3.bucketExists("artifacts"))
        #expect(try !s3.bucketExists("missing-bucket"))
        let body = Data("{\"rmse\": 0.87}".utf8)
        let key = "models/v1/Ünïcode metrics 1+1=2.json"
        try s3.put(body, bucket: "artifacts", key: key, contentType: "application/json")
        #expect(try s3.get(bucket: "artifacts", key: key) == body)
        #expect(try s3.get(bucket: "artifacts", key: key, range: 2...5) == Data("rmse".utf8))
        for index in 0..<5 { try s3.put(Data([UInt8(index)]), bucket: "artifacts", key: "models/v\(index + 2)/x") }
        let listed = try s3.list(bucket: "artifacts", prefix: "models/", pageSize: 2)
        #expect(listed.count == 6)
        #expect(listed.first?.key == key)
        let head = try s3.head(bucket: "artifacts", key: key)
        #expect(head?.size == Int64(body.count))
        #expect(head?.etag == "\"\(RunnerKit.Digest.hex(RunnerKit.Digest.md5(body)))\"")
        try s3.delete(bucket: "artifacts", key: key)
        #expect(try s3.head(bucket: "artifacts", key: key) == nil)
    }

    @Test func largeFilesGoMultipartAndDownload() throws {
        let fixture = try S3Fixture()
        let s3 = client(fixture)
        s3.multipartThreshold = 5 << 20
        s3.partSize = 5 << 20
        try s3.createBucket("big")
        let data = randomData(12 << 20)
        let file = fixture.parent.appendingPathComponent("upload.bin")
        try data.write(to: file)
        let started = Date()
        try s3.putFile(file.path, bucket: "big", key: "models/model.bin")
        let uploaded = Date()
        let back = fixture.parent.appendingPathComponent("download.bin")
        try s3.download(bucket: "big", key: "models/model.bin", to: back.path)
        print("S3 figures: Core S3Client 12 MB multipart put \(String(format: "%.2f", uploaded.timeIntervalSince(started))) s, download \(String(format: "%.2f", Date().timeIntervalSince(uploaded))) s")
        #expect(try Data(contentsOf: back) == data)
        #expect(try s3.head(bucket: "big", key: "models/model.bin")?.etag?.hasSuffix("-3\"") == true)
    }
}
