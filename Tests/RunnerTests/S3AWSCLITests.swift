import Foundation
import Testing
@testable import RunnerKit

/// The real `aws` command line (awscli v1, botocore) against the server, as a subprocess.
@Suite(.serialized) struct S3AWSCLITests {
    static let available = hasProgram("aws")

    func aws(_ fixture: S3Fixture, _ arguments: [String], secret: String? = nil, directory: URL? = nil) throws -> ProcessResult {
        try runProcess(["aws", "--endpoint-url", fixture.endpoint] + arguments, environment: fixture.environment(secret: secret), directory: directory)
    }

    @Test(.enabled(if: available)) func awsCLIRoundTripsA20MBFileWithMultipart() throws {
        let fixture = try S3Fixture()
        let work = fixture.parent.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let original = randomData(20 << 20)
        try original.write(to: work.appendingPathComponent("big.bin"))

        let made = try aws(fixture, ["s3", "mb", "s3://cli-bucket"])
        #expect(made.status == 0, "\(made.stderr)")

        let up = try aws(fixture, ["s3", "cp", work.appendingPathComponent("big.bin").path, "s3://cli-bucket/data/big.bin"])
        #expect(up.status == 0, "\(up.stderr)")
        let down = try aws(fixture, ["s3", "cp", "s3://cli-bucket/data/big.bin", work.appendingPathComponent("back.bin").path])
        #expect(down.status == 0, "\(down.stderr)")
        let back = try Data(contentsOf: work.appendingPathComponent("back.bin"))
        #expect(back.count == original.count)
        #expect(back == original)
        print("S3 figures: aws s3 cp 20 MB up \(String(format: "%.2f", up.seconds)) s, down \(String(format: "%.2f", down.seconds)) s (process start included)")

        // Uploaded in 8 MB parts: a multipart ETag with three parts.
        let head = try aws(fixture, ["s3api", "head-object", "--bucket", "cli-bucket", "--key", "data/big.bin"])
        #expect(head.status == 0, "\(head.stderr)")
        #expect(head.stdout.contains("-3\\\""), "\(head.stdout)")
        #expect(head.stdout.contains("\"ContentLength\": 20971520"))

        let small = work.appendingPathComponent("small.txt")
        try Data("hello".utf8).write(to: small)
        for key in ["data/a.txt", "data/sub/b.txt", "other/c.txt"] {
            let put = try aws(fixture, ["s3", "cp", small.path, "s3://cli-bucket/\(key)"])
            #expect(put.status == 0, "\(put.stderr)")
        }
        let buckets = try aws(fixture, ["s3", "ls"])
        #expect(buckets.status == 0 && buckets.stdout.contains("cli-bucket"), "\(buckets.stdout) \(buckets.stderr)")
        let listed = try aws(fixture, ["s3", "ls", "s3://cli-bucket/data/"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("big.bin") && listed.stdout.contains("a.txt") && listed.stdout.contains("PRE sub/"), "\(listed.stdout)")
        #expect(!listed.stdout.contains("c.txt"))
        let recursive = try aws(fixture, ["s3", "ls", "--recursive", "s3://cli-bucket/"])
        #expect(recursive.stdout.components(separatedBy: "\n").filter { !$0.isEmpty }.count == 4, "\(recursive.stdout)")

        let removed = try aws(fixture, ["s3", "rm", "s3://cli-bucket/data/a.txt"])
        #expect(removed.status == 0, "\(removed.stderr)")
        let after = try aws(fixture, ["s3", "ls", "s3://cli-bucket/data/"])
        #expect(!after.stdout.contains("a.txt"))
        let removeAll = try aws(fixture, ["s3", "rm", "--recursive", "s3://cli-bucket/"])
        #expect(removeAll.status == 0, "\(removeAll.stderr)")
        let rb = try aws(fixture, ["s3", "rb", "s3://cli-bucket"])
        #expect(rb.status == 0, "\(rb.stderr)")
        #expect(fixture.pathsOutsideRoot() == ["work"])
    }

    @Test(.enabled(if: available)) func awsS3APIPutGetHeadAndListWithDelimiter() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("api-bucket")
        let work = fixture.parent.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let file = work.appendingPathComponent("in.json")
        try Data("{\"a\": 1}".utf8).write(to: file)

        let put = try aws(fixture, ["s3api", "put-object", "--bucket", "api-bucket", "--key", "dir/x y é.json", "--body", file.path,
                                    "--content-type", "application/json", "--metadata", "owner=runner,purpose=test"])
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout.contains(Digest.hex(Digest.md5(Data("{\"a\": 1}".utf8)))))
        for key in ["dir/sub/1", "dir/sub/2", "top"] {
            #expect(try aws(fixture, ["s3api", "put-object", "--bucket", "api-bucket", "--key", key, "--body", file.path]).status == 0)
        }
        let head = try aws(fixture, ["s3api", "head-object", "--bucket", "api-bucket", "--key", "dir/x y é.json"])
        #expect(head.status == 0, "\(head.stderr)")
        #expect(head.stdout.contains("\"ContentType\": \"application/json\""), "\(head.stdout)")
        #expect(head.stdout.contains("\"owner\": \"runner\""), "\(head.stdout)")
        #expect(head.stdout.contains("\"ContentLength\": 8"))

        let out = work.appendingPathComponent("out.json")
        let get = try aws(fixture, ["s3api", "get-object", "--bucket", "api-bucket", "--key", "dir/x y é.json", out.path])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(try Data(contentsOf: out) == Data("{\"a\": 1}".utf8))

        let list = try aws(fixture, ["s3api", "list-objects-v2", "--bucket", "api-bucket", "--prefix", "dir/", "--delimiter", "/"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("\"Key\": \"dir/x y é.json\""), "\(list.stdout)")
        #expect(list.stdout.contains("\"Prefix\": \"dir/sub/\""), "\(list.stdout)")
        #expect(!list.stdout.contains("\"Key\": \"dir/sub/1\""))
        #expect(!list.stdout.contains("\"Key\": \"top\""))

        let missing = try aws(fixture, ["s3api", "get-object", "--bucket", "api-bucket", "--key", "nope", out.path])
        #expect(missing.status != 0 && missing.stderr.contains("NoSuchKey"), "\(missing.stderr)")
        let notEmpty = try aws(fixture, ["s3api", "delete-bucket", "--bucket", "api-bucket"])
        #expect(notEmpty.status != 0 && notEmpty.stderr.contains("BucketNotEmpty"), "\(notEmpty.stderr)")
    }

    @Test(.enabled(if: available)) func awsCLIWithAWrongSecretIsRefused() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("locked")
        let result = try aws(fixture, ["s3api", "list-objects-v2", "--bucket", "locked"], secret: ObjectStore.randomHex(20))
        #expect(result.status != 0)
        #expect(result.stderr.contains("SignatureDoesNotMatch"), "\(result.stderr)")
    }
}
