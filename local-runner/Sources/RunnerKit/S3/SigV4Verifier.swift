import Crypto
import Foundation

/// Checks a request's SigV4 signature (Authorization header or presigned query) against the
/// runner's one key pair, with S3's error codes for each way it can fail.
struct SigV4Verifier: Sendable {
    var credentials: S3Credentials
    var region: String
    var service = "s3"
    /// S3 refuses requests dated further than this from its clock.
    var maximumSkew: TimeInterval = 15 * 60
    /// The longest a presigned URL may live (seven days, as S3).
    var maximumExpiry = 604_800
    var now: @Sendable () -> Date = { Date() }
    /// More signed headers than any client sends (botocore signs about ten).
    static let maximumSignedHeaders = 64

    /// What a verified request leaves for reading its body: aws-chunked bodies continue the
    /// signature chain from `signature` (the seed).
    struct Verified {
        var amzDate: String
        var scope: String
        var signingKey: SymmetricKey
        var signature: String
        /// `x-amz-content-sha256` as sent (a hex digest, UNSIGNED-PAYLOAD or a STREAMING-* mode).
        var payloadHash: String
        var presigned: Bool
    }

    /// The parsed Authorization header or presigned query.
    private struct Claim {
        var accessKeyID: String
        var date: String
        var region: String
        var service: String
        var signedHeaders: [String]
        var signature: String
        var amzDate: String
    }

    func verify(method: String, rawPath: String, rawQuery: String, headers: [(String, String)]) throws -> Verified {
        guard let pairs = SigV4.queryPairs(rawQuery) else { throw S3Error(code: "InvalidURI", status: 400, message: "Couldn't parse the specified URI.") }
        // Every header by its lower-case name, once: the checks below look names up, and a
        // request with thousands of headers must not cost thousands of scans of them.
        var byName: [String: [String]] = [:]
        for (name, value) in headers { byName[name.lowercased(), default: []].append(value) }
        let header = { (name: String) -> String? in byName[name]?.joined(separator: ",") }
        let claim: Claim
        let presigned: Bool
        var signedPairs = pairs
        if let authorization = header("authorization") {
            claim = try parseAuthorization(authorization, amzDate: header("x-amz-date"))
            presigned = false
        } else if pairs.contains(where: { $0.0 == "X-Amz-Algorithm" }) {
            claim = try parsePresigned(pairs)
            signedPairs.removeAll { $0.0 == "X-Amz-Signature" }
            presigned = true
        } else if pairs.contains(where: { $0.0 == "AWSAccessKeyId" }) {
            throw S3Error.invalidRequest("Signature Version 2 is not supported; presign with AWS4-HMAC-SHA256 (signature_version s3v4)")
        } else {
            throw S3Error.accessDenied()
        }
        guard Digest.constantTimeEquals(claim.accessKeyID, credentials.accessKeyID) else { throw S3Error.invalidAccessKeyID(claim.accessKeyID) }
        guard claim.service == service else {
            throw S3Error(code: "AuthorizationHeaderMalformed", status: 400, message: "The authorization header is malformed; incorrect service \"\(claim.service)\". This endpoint belongs to \"\(service)\".")
        }
        guard claim.region == region else {
            throw S3Error(code: "AuthorizationHeaderMalformed", status: 400, message: "The authorization header is malformed; the region '\(claim.region)' is wrong; expecting '\(region)'",
                          details: ["Region": region])
        }
        guard let requestTime = Self.parseAmzDate(claim.amzDate), claim.amzDate.hasPrefix(claim.date) else {
            throw S3Error(code: "AuthorizationHeaderMalformed", status: 400, message: "The authorization header is malformed; the date '\(claim.amzDate)' does not match the credential scope date '\(claim.date)'.")
        }
        let clock = now()
        if presigned {
            let expires = pairs.first { $0.0 == "X-Amz-Expires" }.flatMap { Int($0.1) } ?? -1
            guard (1...maximumExpiry).contains(expires) else {
                throw S3Error.invalidArgument("X-Amz-Expires must be between 1 and \(maximumExpiry) seconds")
            }
            guard requestTime.timeIntervalSince(clock) <= maximumSkew else { throw S3Error.accessDenied("Request is not valid yet") }
            guard clock.timeIntervalSince(requestTime) <= TimeInterval(expires) else { throw S3Error.accessDenied("Request has expired") }
        } else if abs(clock.timeIntervalSince(requestTime)) > maximumSkew {
            throw S3Error(code: "RequestTimeTooSkewed", status: 403, message: "The difference between the request time and the current time is too large.",
                          details: ["RequestTime": claim.amzDate, "MaxAllowedSkewMilliseconds": String(Int(maximumSkew * 1000))])
        }
        guard claim.signedHeaders.contains("host") else { throw S3Error.accessDenied("The host header must be signed") }
        // As AWS does: a header named as signed must be in the request (libcurl once signed an
        // `expect:` it never sent; AWS refuses that, and so do we, so our tests catch it).
        for name in claim.signedHeaders where byName[name] == nil {
            throw S3Error.signatureDoesNotMatch("'\(name)' is named as a SignedHeader, but it does not exist in the HTTP request.")
        }
        // As AWS does: every x-amz-* header sent must be signed, or a replayed request could
        // carry metadata or a redirect its signer never saw.
        let signed = Set(claim.signedHeaders)
        let unsigned = byName.keys.filter { $0.hasPrefix("x-amz-") && !signed.contains($0) }.sorted()
        if !unsigned.isEmpty {
            throw S3Error(code: "AccessDenied", status: 403, message: "There were headers present in the request which were not signed",
                          details: ["HeadersNotSigned": unsigned.joined(separator: ", ")])
        }
        let canonicalHeaders = SigV4.canonicalHeaders(claim.signedHeaders, values: byName)
        let payloadHash: String
        if let sent = header("x-amz-content-sha256") {
            payloadHash = sent
        } else if presigned {
            payloadHash = "UNSIGNED-PAYLOAD"
        } else {
            throw S3Error.invalidRequest("Missing required header for this request: x-amz-content-sha256")
        }
        let scope = "\(claim.date)/\(claim.region)/\(claim.service)/aws4_request"
        let key = SigV4.signingKey(secret: credentials.secretAccessKey, date: claim.date, region: claim.region, service: claim.service)
        let query = SigV4.canonicalQuery(signedPairs)
        // Clients sign the path as they sent it, which is the canonical form for every client
        // that encodes keys per RFC 3986; the literal path is accepted too for clients that
        // leave some characters (such as '+' or '!') unencoded.
        let uris = [SigV4.canonicalURI(rawPath: rawPath), rawPath]
        var matched = false
        for uri in Set(uris) {
            let canonical = SigV4.canonicalRequest(method: method, uri: uri, query: query, headers: canonicalHeaders,
                                                   signedHeaders: claim.signedHeaders, payloadHash: payloadHash)
            let expected = SigV4.signature(SigV4.stringToSign(amzDate: claim.amzDate, scope: scope, canonicalRequest: canonical), key: key)
            if Digest.constantTimeEquals(expected, claim.signature.lowercased()) { matched = true }
        }
        guard matched else { throw S3Error.signatureDoesNotMatch() }
        return Verified(amzDate: claim.amzDate, scope: scope, signingKey: key, signature: claim.signature.lowercased(), payloadHash: payloadHash, presigned: presigned)
    }

    /// `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request, SignedHeaders=a;b, Signature=hex`
    private func parseAuthorization(_ value: String, amzDate: String?) throws -> Claim {
        let malformed = S3Error(code: "AuthorizationHeaderMalformed", status: 400, message: "The authorization header is malformed: \(value.prefix(200))")
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix(SigV4.algorithm + " ") else {
            if trimmed.hasPrefix("AWS ") { throw S3Error.invalidRequest("Signature Version 2 is not supported; sign with AWS4-HMAC-SHA256") }
            throw malformed
        }
        var fields: [String: String] = [:]
        for part in trimmed.dropFirst(SigV4.algorithm.count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw malformed }
            fields[String(pair[0])] = String(pair[1])
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"] else { throw malformed }
        guard let amzDate else { throw S3Error.accessDenied("AWS authentication requires a valid Date or x-amz-date header") }
        return try claim(credential: credential, signedHeaders: signedHeaders, signature: signature, amzDate: amzDate, malformed: malformed)
    }

    private func parsePresigned(_ pairs: [(String, String)]) throws -> Claim {
        let value = { (name: String) in pairs.first { $0.0 == name }?.1 }
        let malformed = S3Error(code: "AuthorizationQueryParametersError", status: 400,
                                message: "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
        guard value("X-Amz-Algorithm") == SigV4.algorithm, let credential = value("X-Amz-Credential"), let signedHeaders = value("X-Amz-SignedHeaders"),
              let signature = value("X-Amz-Signature"), let amzDate = value("X-Amz-Date"), value("X-Amz-Expires") != nil else { throw malformed }
        return try claim(credential: credential, signedHeaders: signedHeaders, signature: signature, amzDate: amzDate, malformed: malformed)
    }

    private func claim(credential: String, signedHeaders: String, signature: String, amzDate: String, malformed: S3Error) throws -> Claim {
        // The access key itself never contains '/', so the scope is the last four parts.
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 5, parts[parts.count - 1] == "aws4_request" else { throw malformed }
        let names = signedHeaders.split(separator: ";").map { $0.lowercased() }
        // Bounds the signing work a wrong secret can cost (S3 itself takes 8 KB of headers).
        guard !names.isEmpty, names.count <= Self.maximumSignedHeaders else { throw malformed }
        return Claim(accessKeyID: parts[0..<(parts.count - 4)].joined(separator: "/"), date: parts[parts.count - 4], region: parts[parts.count - 3],
                     service: parts[parts.count - 2], signedHeaders: names, signature: signature, amzDate: amzDate)
    }

    /// `20150830T123600Z`, always UTC.
    static func parseAmzDate(_ text: String) -> Date? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 16, utf8[8] == UInt8(ascii: "T"), utf8[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: utf8[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
              let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15) else { return nil }
        var components = DateComponents()
        components.year = year; components.month = month; components.day = day
        components.hour = hour; components.minute = minute; components.second = second
        var calendar = Calendar(identifier: .gregorian)
        guard let utc = TimeZone(identifier: "UTC") else { return nil }
        calendar.timeZone = utc
        return calendar.date(from: components)
    }
}
