import Foundation
import Testing
@testable import RunnerKit

/// The pieces under the server: checksums, aws-chunked framing, ranges, listings, names, XML
/// and the on-disk store (key safety, multipart ETags).
@Suite struct S3StoreTests {
    @Test func crc32Vectors() {
        #expect(CRC32.ieee.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.castagnoli.checksum(Data("123456789".utf8)) == 0xE306_9283)
        #expect(ChecksumAlgorithm.crc32.base64(Data("hello world".utf8)) == "DUoRhQ==")
        #expect(ChecksumAlgorithm.crc32.base64(Data()) == "AAAAAA==")
        // Eight bytes at a time and one at a time agree, across every split.
        let data = randomData(1031)
        let whole = CRC32.ieee.checksum(data)
        for split in [0, 1, 7, 8, 9, 500, 1030] {
            #expect(CRC32.ieee.update(CRC32.ieee.checksum(data.prefix(split)), Data(data.dropFirst(split))) == whole)
        }
    }

    @Test func awsChunkedUnsignedTrailer() throws {
        let body = Data("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".utf8)
        let decoded = try AWSChunked.decode(body, mode: .unsignedWithTrailer, signer: nil)
        #expect(decoded.payload == Data("hello world".utf8))
        #expect(decoded.trailers == ["x-amz-checksum-crc32": "DUoRhQ=="])
        #expect(throws: S3Error.self) { try AWSChunked.decode(Data("5\r\nhel".utf8), mode: .unsignedWithTrailer, signer: nil) }
        #expect(throws: S3Error.self) { try AWSChunked.decode(Data("zz\r\nhello\r\n".utf8), mode: .unsignedWithTrailer, signer: nil) }
        #expect(throws: S3Error.self) { try AWSChunked.decode(Data("5\r\nhello\r\n".utf8), mode: .unsignedWithTrailer, signer: nil) }
    }

    @Test(arguments: [
        ("bytes=0-9", ByteRange.partial(0...9)), ("bytes=990-", .partial(990...999)), ("bytes=-10", .partial(990...999)),
        ("bytes=995-2000", .partial(995...999)), ("bytes=-5000", .partial(0...999)), ("bytes=1000-", .unsatisfiable),
        ("bytes=-0", .unsatisfiable), ("bytes=5-2", .whole), ("bytes=0-1,5-6", .whole), ("items=0-1", .whole),
    ])
    func byteRanges(header: String, expected: ByteRange) {
        #expect(ByteRange.parse(header, size: 1000) == expected)
    }

    @Test func listingPagesWithDelimiter() {
        let keys = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "other/4", "z"]
        let objects = keys.map { ObjectMetadata(key: $0, size: 1, etag: "e", contentType: "t", lastModified: 0, dataFile: "f") }
        let top = ObjectListing.page(objects, prefix: "", delimiter: "/", after: nil, maxKeys: 1000)
        #expect(top.contents.map(\.key) == ["a.txt", "z"])
        #expect(top.commonPrefixes == ["dir/", "other/"])
        let first = ObjectListing.page(objects, prefix: "", delimiter: "/", after: nil, maxKeys: 2)
        #expect(first.contents.map(\.key) == ["a.txt"] && first.commonPrefixes == ["dir/"] && first.isTruncated && first.last == "dir/")
        let second = ObjectListing.page(objects, prefix: "", delimiter: "/", after: first.last, maxKeys: 2)
        #expect(second.commonPrefixes == ["other/"] && second.contents.map(\.key) == ["z"] && !second.isTruncated)
        let inside = ObjectListing.page(objects, prefix: "dir/", delimiter: "/", after: nil, maxKeys: 1000)
        #expect(inside.contents.map(\.key) == ["dir/1", "dir/2"] && inside.commonPrefixes == ["dir/sub/"])
    }

    @Test(arguments: ["abc", "my-bucket.logs", "a1b2c3", String(repeating: "a", count: 63)])
    func validBucketNames(name: String) throws { try S3Names.validateBucket(name) }

    @Test(arguments: ["ab", "ABC", "my_bucket", "-abc", "abc-", "a..b", "192.168.5.4", "xn--abc", "abc-s3alias", "../etc", "a/b", String(repeating: "a", count: 64)])
    func invalidBucketNames(name: String) {
        #expect { try S3Names.validateBucket(name) } throws: { ($0 as? S3Error)?.code == "InvalidBucketName" }
    }

    @Test func xmlEscapingAndReading() {
        #expect(S3XML.escape("a<b>&\"c'\u{1}") == "a&lt;b&gt;&amp;&quot;c&apos;&#x1;")
        let text = "<Delete xmlns=\"x\"><Object><Key>a&amp;b&#x41;&#66;</Key></Object><Object><Key/></Object><Quiet>true</Quiet></Delete>"
        #expect(S3XML.elements("Object", in: text).count == 2)
        #expect(S3XML.text("Key", in: text) == "a&bAB")
        #expect(S3XML.elements("Part", in: "<Part><PartNumber>1</PartNumber></Part>") == ["<PartNumber>1</PartNumber>"])
    }

    @Test func httpDates() {
        #expect(HTTPDate.rfc1123(1_440_938_160) == "Sun, 30 Aug 2015 12:36:00 GMT")
        #expect(HTTPDate.iso8601(1_440_938_160.25) == "2015-08-30T12:36:00.250Z")
        #expect(HTTPDate.parseRFC1123("Sun, 30 Aug 2015 12:36:00 GMT") == 1_440_938_160)
    }

    /// Keys are never paths: traversal attempts are stored as ordinary keys inside the bucket
    /// and nothing is written beside the root.
    @Test func keysCannotEscapeTheRoot() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("s3-store-\(ObjectStore.randomHex(6))")
        defer { try? FileManager.default.removeItem(at: parent) }
        let root = parent.appendingPathComponent("root")
        let store = try ObjectStore(root: root)
        try store.createBucket("keys")
        let keys = ["../../escape", "../escape", "/abs/olute", "a/../../../b", "./x/./y", "..", ".", "sp ace/ü/空/😀", "a\\..\\..\\b",
                    String(repeating: "k/", count: 512)]
        for key in keys {
            try store.put(bucket: "keys", key: key, data: Data(key.utf8), template: ObjectMetadata(key: "", size: 0, etag: "", contentType: "t", lastModified: 0, dataFile: ""))
            #expect(try store.read(bucket: "keys", key: key).1 == Data(key.utf8))
        }
        #expect(try store.list(bucket: "keys").count == keys.count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["root"])
        // Every file the store made is a digest-named file in the bucket's own directories.
        let files = FileManager.default.enumerator(atPath: root.path)?.allObjects.compactMap { $0 as? String } ?? []
        for file in files {
            #expect(!file.contains(".."), "\(file)")
            #expect(file == "buckets" || file.hasPrefix("buckets/keys"), "\(file)")
        }
        #expect { try store.put(bucket: "keys", key: "nul\u{0}key", data: Data(), template: ObjectMetadata(key: "", size: 0, etag: "", contentType: "t", lastModified: 0, dataFile: "")) }
            throws: { ($0 as? S3Error)?.code == "InvalidArgument" }
        #expect { try store.put(bucket: "keys", key: String(repeating: "x", count: 1025), data: Data(), template: ObjectMetadata(key: "", size: 0, etag: "", contentType: "t", lastModified: 0, dataFile: "")) }
            throws: { ($0 as? S3Error)?.code == "KeyTooLongError" }
        #expect { try store.createBucket("../outside") } throws: { ($0 as? S3Error)?.code == "InvalidBucketName" }
        // Upload ids name directories too: only the store's own hex is accepted.
        #expect { try store.listParts(bucket: "keys", uploadID: "../../keys", key: "x") } throws: { ($0 as? S3Error)?.code == "NoSuchUpload" }

        // Reopening the root finds the same objects (sidecars are the index).
        let reopened = try ObjectStore(root: root)
        #expect(try reopened.list(bucket: "keys").map(\.key).sorted() == keys.sorted())
    }

    /// S3's multipart ETag (the value is Python hashlib's, for 5 MiB of 'a' then 1 KiB of 'b').
    @Test func multipartETagIsS3s() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("s3-store-\(ObjectStore.randomHex(6))")
        defer { try? FileManager.default.removeItem(at: parent) }
        let store = try ObjectStore(root: parent)
        try store.createBucket("parts")
        let upload = try store.createUpload(bucket: "parts", key: "k", contentType: "t", userMetadata: [:], headers: [:], checksumAlgorithm: nil, checksumType: nil)
        let first = try store.putPart(bucket: "parts", uploadID: upload.uploadID, key: "k", number: 1, data: Data(repeating: UInt8(ascii: "a"), count: 5 << 20), checksum: nil)
        let second = try store.putPart(bucket: "parts", uploadID: upload.uploadID, key: "k", number: 2, data: Data(repeating: UInt8(ascii: "b"), count: 1024), checksum: nil)
        // A part under 5 MiB that is not the last is refused.
        #expect { try store.completeUpload(bucket: "parts", uploadID: upload.uploadID, key: "k", parts: [CompletedPart(number: 2, etag: second.etag), CompletedPart(number: 3, etag: "x")]) }
            throws: { ($0 as? S3Error)?.code == "InvalidPart" }
        let meta = try store.completeUpload(bucket: "parts", uploadID: upload.uploadID, key: "k",
                                            parts: [CompletedPart(number: 1, etag: "\"\(first.etag)\""), CompletedPart(number: 2, etag: second.etag)])
        #expect(meta.etag == "16329fb6004d64a4fbc5bbb983fa0528-2")
        #expect(meta.size == (5 << 20) + 1024)
        #expect(try store.read(bucket: "parts", key: "k", range: ((5 << 20) - 1)...((5 << 20) + 1)).1 == Data("abb".utf8))
        #expect(try store.listUploads(bucket: "parts").isEmpty)
    }

    @Test func smallPartsAreRefusedExceptTheLast() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("s3-store-\(ObjectStore.randomHex(6))")
        defer { try? FileManager.default.removeItem(at: parent) }
        let store = try ObjectStore(root: parent, minimumPartSize: 10)
        try store.createBucket("parts")
        let upload = try store.createUpload(bucket: "parts", key: "k", contentType: "t", userMetadata: [:], headers: [:], checksumAlgorithm: .crc32, checksumType: "FULL_OBJECT")
        let first = try store.putPart(bucket: "parts", uploadID: upload.uploadID, key: "k", number: 1, data: Data("short".utf8), checksum: nil)
        let second = try store.putPart(bucket: "parts", uploadID: upload.uploadID, key: "k", number: 2, data: Data(" world".utf8), checksum: nil)
        #expect { try store.completeUpload(bucket: "parts", uploadID: upload.uploadID, key: "k", parts: [CompletedPart(number: 1, etag: first.etag), CompletedPart(number: 2, etag: second.etag)]) }
            throws: { ($0 as? S3Error)?.code == "EntityTooSmall" }
        let single = try store.completeUpload(bucket: "parts", uploadID: upload.uploadID, key: "k", parts: [CompletedPart(number: 1, etag: first.etag)])
        // FULL_OBJECT: the CRC32 of the joined bytes.
        #expect(single.checksums["CRC32"] == ChecksumAlgorithm.crc32.base64(Data("short".utf8)))
    }
}
