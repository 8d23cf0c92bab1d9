import Crypto
import Foundation

/// The access key pair a client signs with.
struct S3Credentials: Sendable, Equatable {
    var accessKeyID: String
    var secretAccessKey: String
}

/// AWS Signature Version 4, the parts shared by header and query (presigned) signing: the
/// canonical request, the string to sign, the signing key. Exactly as AWS documents them,
/// because a client's signature only matches a byte-identical canonical request.
enum SigV4 {
    static let algorithm = "AWS4-HMAC-SHA256"
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, every other
    /// byte as %XX in upper case; '/' kept only when asked (paths).
    static func uriEncode(_ text: String, keepSlash: Bool = false) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case 65...90, 97...122, 48...57, 45, 46, 95, 126: out.append(byte)  // A-Z a-z 0-9 - . _ ~
            case 47 where keepSlash: out.append(byte)
            default: out += [37, digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Percent-decoding of a URI component. '+' stays '+' (SigV4 clients encode a space as %20).
    /// Nil when an escape is malformed or the bytes are not UTF-8.
    static func percentDecode(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == 37 {
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = Digest.bytes(hex: String(decoding: [high, low], as: UTF8.self))?.first else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(bytes: bytes, encoding: .utf8)
    }

    /// The query string as decoded name/value pairs in the order sent; a name without '='
    /// has an empty value.
    static func queryPairs(_ rawQuery: String) -> [(String, String)]? {
        var pairs: [(String, String)] = []
        for item in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0]), let value = percentDecode(parts.count > 1 ? parts[1] : "") else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }

    /// Names and values encoded, sorted by name then value (byte order), joined with '&'.
    static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        pairs.map { (uriEncode($0.0), uriEncode($0.1)) }
            .sorted { $0.0 == $1.0 ? Array($0.1.utf8).lexicographicallyPrecedes(Array($1.1.utf8)) : Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// The canonical URI of an S3 request: each segment of the path decoded, then encoded once
    /// (S3 does not normalise `.`/`..` or double-encode, unlike other services).
    static func canonicalURI(rawPath: String) -> String {
        rawPath.split(separator: "/", omittingEmptySubsequences: false)
            .map { segment in percentDecode(segment).map { uriEncode($0) } ?? String(segment) }
            .joined(separator: "/")
    }

    /// A header value as signed: surrounding space trimmed, inner runs of spaces collapsed.
    static func canonicalHeaderValue(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ").trimmingCharacters(in: .whitespaces)
    }

    /// The signed headers' lines (`name:value\n`, names lower-case and sorted). The verifier
    /// refuses a request that lacks a header it names as signed before this is computed.
    static func canonicalHeaders(_ signedHeaders: [String], in headers: [(String, String)]) -> String {
        var byName: [String: [String]] = [:]
        for (name, value) in headers { byName[name.lowercased(), default: []].append(value) }
        return canonicalHeaders(signedHeaders, values: byName)
    }

    /// The same from headers already grouped by lower-case name.
    static func canonicalHeaders(_ signedHeaders: [String], values: [String: [String]]) -> String {
        var text = ""
        for name in signedHeaders {
            let joined = (values[name] ?? []).map(canonicalHeaderValue).joined(separator: ",")
            text += "\(name):\(joined)\n"
        }
        return text
    }

    static func canonicalRequest(method: String, uri: String, query: String, headers: String, signedHeaders: [String], payloadHash: String) -> String {
        [method, uri, query, headers, signedHeaders.joined(separator: ";"), payloadHash].joined(separator: "\n")
    }

    static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope, Digest.sha256Hex(canonicalRequest)].joined(separator: "\n")
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data("AWS4\(secret)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    static func signature(_ stringToSign: String, key: SymmetricKey) -> String {
        Digest.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }
}
