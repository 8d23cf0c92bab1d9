import Foundation
import Testing
@testable import RunnerKit

/// The documentation's example key pair, in one place. These are not credentials: AWS
/// publishes them with its signature examples (they open no account), and the expected
/// signatures below are only reproducible with exactly these values.
enum AWSDocumentationExample {
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    /// The S3 examples' secret; the generic SigV4 (IAM) example has '+' for its second '/'.
    static let s3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let iamSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let s3Credentials = S3Credentials(accessKeyID: accessKey, secretAccessKey: s3Secret)
    static func credential(_ scope: String) -> String { "\(accessKey)/\(scope)" }
}

/// SigV4 against AWS's published examples.
@Suite struct S3SigV4Tests {
    static let exampleAccessKey = AWSDocumentationExample.accessKey

    static func at(_ amzDate: String) -> @Sendable () -> Date {
        let date = SigV4Verifier.parseAmzDate(amzDate) ?? Date()
        return { date }
    }

    /// The SigV4 documentation's example: IAM ListUsers, 2015-08-30.
    @Test func iamListUsersVector() {
        let headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]
        let names = ["content-type", "host", "x-amz-date"]
        let query = SigV4.canonicalQuery(SigV4.queryPairs("Version=2010-05-08&Action=ListUsers") ?? [])
        #expect(query == "Action=ListUsers&Version=2010-05-08")
        let canonical = SigV4.canonicalRequest(method: "GET", uri: SigV4.canonicalURI(rawPath: "/"), query: query,
                                               headers: SigV4.canonicalHeaders(names, in: headers), signedHeaders: names, payloadHash: SigV4.emptyPayloadHash)
        #expect(Digest.sha256Hex(canonical) == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59")
        let key = SigV4.signingKey(secret: AWSDocumentationExample.iamSecret, date: "20150830", region: "us-east-1", service: "iam")
        let signature = SigV4.signature(SigV4.stringToSign(amzDate: "20150830T123600Z", scope: "20150830/us-east-1/iam/aws4_request", canonicalRequest: canonical), key: key)
        #expect(signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    /// S3's "GET Object" example (first 10 bytes of test.txt), through the whole verifier.
    @Test func s3GetObjectVectorVerifies() throws {
        let verifier = SigV4Verifier(credentials: AWSDocumentationExample.s3Credentials,
                                     region: "us-east-1", now: Self.at("20130524T000000Z"))
        var headers = [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4.emptyPayloadHash),
                       ("x-amz-date", "20130524T000000Z"),
                       ("Authorization", "AWS4-HMAC-SHA256 Credential=\(AWSDocumentationExample.credential("20130524/us-east-1/s3/aws4_request")),SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")]
        let verified = try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: "", headers: headers)
        #expect(verified.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

        // Any change to a signed part is a SignatureDoesNotMatch.
        headers[1] = ("Range", "bytes=0-10")
        #expect(throws: S3Error.signatureDoesNotMatch()) { try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: "", headers: headers) }
        headers[1] = ("Range", "bytes=0-9")
        #expect(throws: S3Error.signatureDoesNotMatch()) { try verifier.verify(method: "GET", rawPath: "/test2.txt", rawQuery: "", headers: headers) }
        #expect(throws: S3Error.signatureDoesNotMatch()) { try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: "acl", headers: headers) }

        var wrongSecret = verifier
        wrongSecret.credentials.secretAccessKey = String(AWSDocumentationExample.s3Secret.dropLast()) + "Z"  // one character off
        #expect(throws: S3Error.signatureDoesNotMatch()) { try wrongSecret.verify(method: "GET", rawPath: "/test.txt", rawQuery: "", headers: headers) }
        var otherKey = verifier
        otherKey.credentials.accessKeyID = String(AWSDocumentationExample.accessKey.reversed())  // a key the server does not know
        #expect(throws: S3Error.invalidAccessKeyID(Self.exampleAccessKey)) { try otherKey.verify(method: "GET", rawPath: "/test.txt", rawQuery: "", headers: headers) }
        var later = verifier
        later.now = Self.at("20130524T001600Z")
        #expect { try later.verify(method: "GET", rawPath: "/test.txt", rawQuery: "", headers: headers) } throws: { ($0 as? S3Error)?.code == "RequestTimeTooSkewed" }
        #expect(throws: S3Error.accessDenied()) { try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: "", headers: Array(headers.dropLast())) }
    }

    /// S3's chunked upload example: the seed signature of the PUT, then its three chunk
    /// signatures (64 KiB, 1 KiB, final) over 66560 bytes of 'a'.
    @Test func s3ChunkedUploadVector() throws {
        let verifier = SigV4Verifier(credentials: AWSDocumentationExample.s3Credentials,
                                     region: "us-east-1", now: Self.at("20130524T000000Z"))
        let headers = [("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                       ("Authorization", "AWS4-HMAC-SHA256 Credential=\(AWSDocumentationExample.credential("20130524/us-east-1/s3/aws4_request")),SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
                       ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
                       ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824")]
        let verified = try verifier.verify(method: "PUT", rawPath: "/examplebucket/chunkObject.txt", rawQuery: "", headers: headers)
        let signer = AWSChunked.Signer(amzDate: verified.amzDate, scope: verified.scope, key: verified.signingKey, seedSignature: verified.signature)
        var body = Data("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n".utf8)
        body.append(Data(repeating: UInt8(ascii: "a"), count: 65536))
        body.append(Data("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n".utf8))
        body.append(Data(repeating: UInt8(ascii: "a"), count: 1024))
        body.append(Data("\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n".utf8))
        #expect(body.count == 66824)
        let decoded = try AWSChunked.decode(body, mode: .signed, signer: signer)
        #expect(decoded.payload == Data(repeating: UInt8(ascii: "a"), count: 66560))

        var tampered = body
        tampered[200] = UInt8(ascii: "b")
        #expect { try AWSChunked.decode(tampered, mode: .signed, signer: signer) } throws: { ($0 as? S3Error)?.code == "SignatureDoesNotMatch" }
        // Dropping the final chunk is an incomplete body, not a shorter object.
        let truncated = body.prefix(body.count - 88)
        #expect { try AWSChunked.decode(Data(truncated), mode: .signed, signer: signer) } throws: { ($0 as? S3Error) != nil }
    }

    @Test func presignedQueryVerifies() throws {
        let credentials = AWSDocumentationExample.s3Credentials
        let verifier = SigV4Verifier(credentials: credentials, region: "us-east-1", now: Self.at("20130524T000100Z"))
        // Signed here by the same rules; the signature vectors above pin the rules to AWS's.
        var pairs = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", AWSDocumentationExample.credential("20130524/us-east-1/s3/aws4_request")),
                     ("X-Amz-Date", "20130524T000000Z"), ("X-Amz-Expires", "86400"), ("X-Amz-SignedHeaders", "host")]
        let headers = [("Host", "examplebucket.s3.amazonaws.com")]
        let canonical = SigV4.canonicalRequest(method: "GET", uri: "/test.txt", query: SigV4.canonicalQuery(pairs), headers: "host:examplebucket.s3.amazonaws.com\n",
                                               signedHeaders: ["host"], payloadHash: "UNSIGNED-PAYLOAD")
        let key = SigV4.signingKey(secret: credentials.secretAccessKey, date: "20130524", region: "us-east-1", service: "s3")
        let signature = SigV4.signature(SigV4.stringToSign(amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request", canonicalRequest: canonical), key: key)
        // AWS's presigned URL example for these inputs.
        #expect(signature == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        pairs.append(("X-Amz-Signature", signature))
        let query = pairs.map { "\(SigV4.uriEncode($0.0))=\(SigV4.uriEncode($0.1))" }.joined(separator: "&")
        _ = try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: query, headers: headers)
        var expired = verifier
        expired.now = Self.at("20130525T000001Z")
        #expect(throws: S3Error.accessDenied("Request has expired")) { try expired.verify(method: "GET", rawPath: "/test.txt", rawQuery: query, headers: headers) }
        #expect(throws: S3Error.signatureDoesNotMatch()) { try verifier.verify(method: "GET", rawPath: "/other.txt", rawQuery: query, headers: headers) }
    }

    @Test func uriAndQueryEncoding() {
        #expect(SigV4.uriEncode("a b+c/d~e_f-g.h*é") == "a%20b%2Bc%2Fd~e_f-g.h%2A%C3%A9")
        #expect(SigV4.uriEncode("dir/sub file", keepSlash: true) == "dir/sub%20file")
        #expect(SigV4.canonicalURI(rawPath: "/bucket/a%20b/%E2%82%AC/c+d") == "/bucket/a%20b/%E2%82%AC/c%2Bd")
        #expect(SigV4.canonicalURI(rawPath: "/bucket/x%2fy") == "/bucket/x%2Fy")
        #expect(SigV4.canonicalQuery(SigV4.queryPairs("prefix=a%20b&list-type=2&delimiter=%2F&uploads") ?? [])
                == "delimiter=%2F&list-type=2&prefix=a%20b&uploads=")
        // Same name twice: sorted by value too.
        #expect(SigV4.canonicalQuery([("a", "2"), ("a", "1"), ("B", "x")]) == "B=x&a=1&a=2")
        #expect(SigV4.queryPairs("a=%zz") == nil)
        #expect(SigV4.canonicalHeaderValue("  a   b  c ") == "a b c")
    }

    @Test func constantTimeComparison() {
        #expect(Digest.constantTimeEquals("abc", "abc"))
        #expect(!Digest.constantTimeEquals("abc", "abd"))
        #expect(!Digest.constantTimeEquals("abc", "abcd"))
        #expect(!Digest.constantTimeEquals("", "a"))
    }
}
