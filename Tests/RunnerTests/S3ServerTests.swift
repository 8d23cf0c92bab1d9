import Foundation
import Testing
@testable import RunnerKit

/// The server over HTTP with a hand-signing client: what SDKs never send (bad signatures,
/// skewed clocks, hand-made aws-chunked bodies, raw `..` paths) and the HTTP details.
@Suite struct S3ServerTests {
    @Test func authenticationFailuresAreS3XMLErrors() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("auth")
        let anonymous = try fixture.client().send("GET", "/auth", sign: false)
        #expect(anonymous.status == 403 && anonymous.errorCode == "AccessDenied")
        #expect(anonymous.text.contains("<Resource>/auth</Resource>") && anonymous.text.contains("<RequestId>"))
        #expect(anonymous.header("x-amz-request-id")?.isEmpty == false)
        #expect(anonymous.header("Content-Type") == "application/xml")

        let wrong = try fixture.client(secret: ObjectStore.randomHex(20)).send("GET", "/auth")
        #expect(wrong.status == 403 && wrong.errorCode == "SignatureDoesNotMatch", "\(wrong.text)")
        let unknown = try fixture.client(accessKey: "LRNOBODY").send("GET", "/auth")
        #expect(unknown.status == 403 && unknown.errorCode == "InvalidAccessKeyId")
        let skewed = try fixture.client().send("GET", "/auth", date: Date().addingTimeInterval(-16 * 60))
        #expect(skewed.status == 403 && skewed.errorCode == "RequestTimeTooSkewed")
        let tampered = try fixture.client().send("DELETE", "/auth", signPath: "/other")
        #expect(tampered.status == 403 && tampered.errorCode == "SignatureDoesNotMatch")
        #expect(fixture.server.createBucketExists("auth"))
        // A header signed with a value and then dropped no longer matches.
        var dropped = fixture.client().signedHeaders("GET", "/auth", headers: [("x-amz-meta-signed", "1")], payloadHash: SigV4.emptyPayloadHash).headers
        dropped.removeAll { $0.0 == "x-amz-meta-signed" }
        let droppedResponse = try RawS3Client.exchange(port: fixture.port, method: "GET", target: "/auth", headers: dropped, body: Data())
        #expect(droppedResponse.status == 403 && droppedResponse.errorCode == "SignatureDoesNotMatch")
        // A header named as signed but not sent (libcurl's empty `Expect:`, curl issue 11664) is refused, as AWS does.
        var phantom = fixture.client().signedHeaders("GET", "/auth", headers: [("expect", "")], payloadHash: SigV4.emptyPayloadHash).headers
        phantom.removeAll { $0.0 == "expect" }
        let phantomResponse = try RawS3Client.exchange(port: fixture.port, method: "GET", target: "/auth", headers: phantom, body: Data())
        #expect(phantomResponse.status == 403 && phantomResponse.errorCode == "SignatureDoesNotMatch")
        #expect(phantomResponse.text.contains("&apos;expect&apos; is named as a SignedHeader"), "\(phantomResponse.text)")
        let ok = try fixture.client().send("GET", "/auth", query: [("list-type", "2"), ("prefix", "a b/ü")])
        #expect(ok.status == 200, "\(ok.text)")
    }

    @Test func payloadHashesAndChecksumsAreVerified() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("hashes")
        let client = fixture.client()
        let mismatch = try client.send("PUT", "/hashes/k", body: Data("body".utf8), payloadHash: Digest.sha256Hex(Data("other".utf8)))
        #expect(mismatch.status == 400 && mismatch.errorCode == "XAmzContentSHA256Mismatch")
        let badCRC = try client.send("PUT", "/hashes/k", headers: [("x-amz-checksum-crc32", "AAAAAA==")], body: Data("body".utf8))
        #expect(badCRC.status == 400 && badCRC.errorCode == "BadDigest")
        let goodCRC = try client.send("PUT", "/hashes/k", headers: [("x-amz-checksum-crc32", "DUoRhQ==")], body: Data("hello world".utf8))
        #expect(goodCRC.status == 200 && goodCRC.header("x-amz-checksum-crc32") == "DUoRhQ==")
        let unsigned = try client.send("PUT", "/hashes/u", body: Data("free".utf8), payloadHash: "UNSIGNED-PAYLOAD")
        #expect(unsigned.status == 200)
        #expect(try client.send("GET", "/hashes/u").body == Data("free".utf8))
    }

    /// A signed aws-chunked PUT as the Java and Go SDKs send it (chunk signatures chained from
    /// the seed), then the same body with one byte changed.
    @Test func signedAWSChunkedBodies() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("chunks")
        let client = fixture.client()
        let payload = randomData(200_000)
        func put(_ key: String, tamper: Bool) throws -> RawResponse {
            let signed = client.signedHeaders("PUT", "/chunks/\(key)", headers: [("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", String(payload.count))],
                                              payloadHash: AWSChunked.Mode.signed.rawValue)
            let signer = client.chunkSigner(amzDate: signed.amzDate, seedSignature: signed.signature)
            var body = Data()
            var previous = signed.signature
            var offset = 0
            while true {
                let chunk = payload.subdata(in: offset..<min(offset + 65536, payload.count))
                let signature = signer.chunkSignature(previous: previous, chunk: chunk)
                body.append(Data("\(String(chunk.count, radix: 16));chunk-signature=\(signature)\r\n".utf8))
                body.append(chunk)
                body.append(Data("\r\n".utf8))
                previous = signature
                offset += chunk.count
                if chunk.isEmpty { break }
            }
            if tamper { body[body.count / 2] ^= 0xFF }
            return try RawS3Client.exchange(port: fixture.port, method: "PUT", target: "/chunks/\(key)", headers: signed.headers, body: body)
        }
        let good = try put("good", tamper: false)
        #expect(good.status == 200, "\(good.text)")
        #expect(good.header("ETag") == "\"\(Digest.hex(Digest.md5(payload)))\"")
        let back = try client.send("GET", "/chunks/good")
        #expect(back.body == payload)
        #expect(back.header("Content-Encoding") == nil)
        let bad = try put("bad", tamper: true)
        #expect(bad.status == 403 && bad.errorCode == "SignatureDoesNotMatch")
        #expect(try client.send("HEAD", "/chunks/bad").status == 404)
    }

    @Test func headRangesAndConditions() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("ranges")
        let client = fixture.client()
        let data = randomData(10_000)
        #expect(try client.send("PUT", "/ranges/obj", headers: [("Content-Type", "application/x-test"), ("x-amz-meta-color", "blue")], body: data).status == 200)
        let head = try client.send("HEAD", "/ranges/obj")
        #expect(head.status == 200 && head.header("Content-Length") == "10000" && head.body.isEmpty)
        #expect(head.header("Content-Type") == "application/x-test" && head.header("x-amz-meta-color") == "blue")
        #expect(head.header("Last-Modified")?.hasSuffix("GMT") == true)
        let etag = head.header("ETag") ?? ""
        #expect(etag == "\"\(Digest.hex(Digest.md5(data)))\"")

        let middle = try client.send("GET", "/ranges/obj", headers: [("Range", "bytes=100-199")])
        #expect(middle.status == 206 && middle.body == data.subdata(in: 100..<200) && middle.header("Content-Range") == "bytes 100-199/10000")
        let open = try client.send("GET", "/ranges/obj", headers: [("Range", "bytes=9990-")])
        #expect(open.body == data.subdata(in: 9990..<10000))
        let suffix = try client.send("GET", "/ranges/obj", headers: [("Range", "bytes=-5")])
        #expect(suffix.body == data.subdata(in: 9995..<10000) && suffix.header("Content-Range") == "bytes 9995-9999/10000")
        let beyond = try client.send("GET", "/ranges/obj", headers: [("Range", "bytes=10000-")])
        #expect(beyond.status == 416 && beyond.errorCode == "InvalidRange")
        let headRange = try client.send("HEAD", "/ranges/obj", headers: [("Range", "bytes=0-9")])
        #expect(headRange.status == 206 && headRange.header("Content-Length") == "10" && headRange.body.isEmpty)

        #expect(try client.send("GET", "/ranges/obj", headers: [("If-None-Match", etag)]).status == 304)
        #expect(try client.send("GET", "/ranges/obj", headers: [("If-Match", "\"nope\"")]).status == 412)
        #expect(try client.send("GET", "/ranges/obj", headers: [("If-Match", etag), ("Range", "bytes=0-0")]).status == 206)
        let missing = try client.send("HEAD", "/ranges/none")
        #expect(missing.status == 404 && missing.body.isEmpty)
    }

    @Test func bucketsAndErrors() throws {
        let fixture = try S3Fixture()
        let client = fixture.client()
        #expect(try client.send("PUT", "/new-bucket").status == 200)
        let again = try client.send("PUT", "/new-bucket")
        #expect(again.status == 409 && again.errorCode == "BucketAlreadyOwnedByYou")
        try fixture.server.createBucket("new-bucket")  // idempotent at start-up
        #expect(try client.send("HEAD", "/new-bucket").status == 200)
        #expect(try client.send("HEAD", "/missing-bucket").status == 404)
        #expect(try client.send("GET", "/missing-bucket").errorCode == "NoSuchBucket")
        #expect(try client.send("PUT", "/Bad_Bucket").errorCode == "InvalidBucketName")
        #expect(try client.send("GET", "/new-bucket/nothing").errorCode == "NoSuchKey")
        #expect(try client.send("POST", "/new-bucket/k").errorCode == "MethodNotAllowed")
        #expect(try client.send("GET", "/new-bucket", query: [("acl", "")]).errorCode == "NotImplemented")
        #expect(try client.send("GET", "/new-bucket/k", query: [("uploadId", "0123")]).errorCode == "NoSuchUpload")
        #expect(try client.send("PUT", "/new-bucket/k", body: Data("x".utf8)).status == 200)
        let notEmpty = try client.send("DELETE", "/new-bucket")
        #expect(notEmpty.status == 409 && notEmpty.errorCode == "BucketNotEmpty")
        #expect(try client.send("DELETE", "/new-bucket/k").status == 204)
        #expect(try client.send("DELETE", "/new-bucket/k").status == 204)
        #expect(try client.send("DELETE", "/new-bucket").status == 204)
        let list = try client.send("GET", "/")
        #expect(list.status == 200 && !list.text.contains("new-bucket"))
    }

    /// Raw `..` segments and encoded ones are keys like any other, inside the bucket.
    @Test func dotDotPathsStayInsideTheRoot() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("dots")
        let client = fixture.client()
        for path in ["/dots/../../escape", "/dots/..%2F..%2Fescape2", "/dots/%2E%2E/%2E%2E/escape3", "/dots/a/../../../../etc/passwd"] {
            let put = try client.send("PUT", path, body: Data(path.utf8))
            #expect(put.status == 200 || put.errorCode == "InvalidArgument", "\(path): \(put.text)")
            if put.status == 200 { #expect(try client.send("GET", path).body == Data(path.utf8)) }
        }
        #expect(fixture.pathsOutsideRoot().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.parent.appendingPathComponent("escape").path))
        let nul = try client.send("PUT", "/dots/a%00b", body: Data())
        #expect(nul.errorCode == "InvalidArgument")
        let long = try client.send("PUT", "/dots/" + String(repeating: "k", count: 1025), body: Data())
        #expect(long.errorCode == "KeyTooLongError")
    }

    /// `Expect: 100-continue` gets its interim answer before the body is sent.
    @Test func expectContinueIsAnswered() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("expect")
        let body = Data("continued body".utf8)
        let signed = fixture.client().signedHeaders("PUT", "/expect/k", headers: [("Expect", "100-continue")], payloadHash: "UNSIGNED-PAYLOAD")
        let fd = try RawS3Client.connectLoopback(port: fixture.port)
        defer { close(fd) }
        var head = "PUT /expect/k HTTP/1.1\r\n"
        for (name, value) in signed.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        #expect(HTTPServer.sendAll(fd, Data(head.utf8)))
        var interim = [UInt8](repeating: 0, count: 25)
        var received = 0
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while received < interim.count {
            let wanted = interim.count - received, offset = received
            let n = interim.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress.map { $0 + offset }, wanted, 0) }
            if n <= 0 { break }
            received += n
        }
        #expect(String(decoding: interim, as: UTF8.self) == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(HTTPServer.sendAll(fd, body))
        let response = try RawS3Client.parse(RawS3Client.readAll(fd), method: "PUT")
        #expect(response.status == 200)
        #expect(try fixture.client().send("GET", "/expect/k").body == body)
    }

    @Test func oversizedBodiesAreEntityTooLarge() throws {
        let fixture = try S3Fixture(maximumRequestBody: 1024)
        try fixture.server.createBucket("limits")
        let response = try fixture.client().send("PUT", "/limits/big", body: randomData(4096))
        #expect(response.status == 400 && response.errorCode == "EntityTooLarge", "\(response.text)")
        let small = try fixture.client().send("PUT", "/limits/small", body: randomData(512))
        #expect(small.status == 200)
    }

    @Test func listObjectsV2EncodingAndTokens() throws {
        let fixture = try S3Fixture()
        try fixture.server.createBucket("listing")
        let client = fixture.client()
        for key in ["a b+c", "dir/é", "dir/x", "z"] { #expect(try client.send("PUT", "/listing/" + SigV4.uriEncode(key, keepSlash: true), body: Data()).status == 200) }
        let encoded = try client.send("GET", "/listing", query: [("list-type", "2"), ("encoding-type", "url"), ("delimiter", "/")])
        #expect(encoded.text.contains("<Key>a%20b%2Bc</Key>"), "\(encoded.text)")
        #expect(encoded.text.contains("<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>"))
        #expect(encoded.text.contains("<EncodingType>url</EncodingType>"))
        let first = try client.send("GET", "/listing", query: [("list-type", "2"), ("max-keys", "2")])
        #expect(first.text.contains("<IsTruncated>true</IsTruncated>") && first.text.contains("<KeyCount>2</KeyCount>"))
        let token = S3XML.text("NextContinuationToken", in: first.text) ?? ""
        let second = try client.send("GET", "/listing", query: [("list-type", "2"), ("max-keys", "2"), ("continuation-token", token)])
        // UTF-8 byte order: "dir/x" (0x78) before "dir/é" (0xC3 0xA9).
        #expect(second.text.contains("<Key>dir/é</Key>") && second.text.contains("<Key>z</Key>") && second.text.contains("<IsTruncated>false</IsTruncated>"))
        let badToken = try client.send("GET", "/listing", query: [("list-type", "2"), ("continuation-token", "%%%")])
        #expect(badToken.errorCode == "InvalidArgument")
    }
}

extension S3Server {
    func createBucketExists(_ name: String) -> Bool { (try? store().bucketExists(name)) ?? false }
}
