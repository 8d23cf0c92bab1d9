import Crypto
import Foundation

/// `Content-Encoding: aws-chunked` bodies: `hex-size[;chunk-signature=sig]\r\n data \r\n`
/// repeated, a zero-size chunk, then optional trailers (`x-amz-checksum-crc32:...`) and a blank
/// line. Signed streams chain each chunk's signature from the previous one, starting from the
/// request's own (seed) signature.
enum AWSChunked {
    /// The payload modes of `x-amz-content-sha256` that mean an aws-chunked body.
    enum Mode: String {
        case signed = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        case signedWithTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        case unsignedWithTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

        var isSigned: Bool { self != .unsignedWithTrailer }
    }

    /// What signing a chunk needs, from the verified request.
    struct Signer {
        var amzDate: String
        var scope: String
        var key: SymmetricKey
        var seedSignature: String

        /// AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous \n sha256("") \n sha256(chunk)
        func chunkSignature(previous: String, chunk: Data) -> String {
            let text = ["AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, previous, SigV4.emptyPayloadHash, Digest.sha256Hex(chunk)].joined(separator: "\n")
            return SigV4.signature(text, key: key)
        }

        /// AWS4-HMAC-SHA256-TRAILER \n date \n scope \n previous \n sha256(trailer lines)
        func trailerSignature(previous: String, trailerLines: String) -> String {
            let text = ["AWS4-HMAC-SHA256-TRAILER", amzDate, scope, previous, Digest.sha256Hex(trailerLines)].joined(separator: "\n")
            return SigV4.signature(text, key: key)
        }
    }

    struct Decoded {
        var payload: Data
        /// Trailer names in lower case (`x-amz-checksum-crc32`).
        var trailers: [String: String]
    }

    static func incomplete(_ why: String) -> S3Error { S3Error(code: "IncompleteBody", status: 400, message: "The aws-chunked body is malformed: \(why)") }

    /// Decodes (and, with a signer, verifies) a whole aws-chunked body.
    static func decode(_ body: Data, mode: Mode, signer: Signer?) throws -> Decoded {
        let bytes = [UInt8](body)
        var index = 0
        var payload = Data()
        var previous = signer?.seedSignature ?? ""

        /// The line starting at `index`, without its CRLF; nil at the end of the body.
        func line() -> String? {
            guard index < bytes.count else { return nil }
            var end = index
            while end + 1 < bytes.count, !(bytes[end] == 13 && bytes[end + 1] == 10) { end += 1 }
            if end + 1 >= bytes.count { end = bytes.count }  // last line without CRLF
            let text = String(decoding: bytes[index..<end], as: UTF8.self)
            index = min(end + 2, bytes.count)
            return text
        }

        while true {
            guard let header = line() else { throw incomplete("the final zero-length chunk is missing") }
            let fields = header.split(separator: ";", maxSplits: 1)
            guard let sizeText = fields.first, let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                throw incomplete("bad chunk header '\(header.prefix(80))'")
            }
            guard size <= bytes.count - index else { throw incomplete("a chunk is longer than the body") }
            let chunk = Data(bytes[index..<(index + size)])
            index += size
            if mode.isSigned, let signer {
                guard fields.count == 2, fields[1].hasPrefix("chunk-signature=") else { throw S3Error.signatureDoesNotMatch("A chunk has no chunk-signature") }
                let sent = String(fields[1].dropFirst("chunk-signature=".count)).lowercased()
                let expected = signer.chunkSignature(previous: previous, chunk: chunk)
                guard Digest.constantTimeEquals(expected, sent) else {
                    throw S3Error.signatureDoesNotMatch("The chunk signature at offset \(payload.count) does not match.")
                }
                previous = expected
            }
            if size == 0 { break }
            payload.append(chunk)
            guard index + 1 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10 else { throw incomplete("a chunk does not end with CRLF") }
            index += 2
        }
        var trailers: [String: String] = [:]
        var signedTrailerText = ""
        var trailerSigned = false
        while let text = line(), !text.isEmpty {
            guard let colon = text.firstIndex(of: ":") else { throw incomplete("bad trailer '\(text.prefix(80))'") }
            let name = text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "x-amz-trailer-signature" {
                if mode == .signedWithTrailer, let signer {
                    let expected = signer.trailerSignature(previous: previous, trailerLines: signedTrailerText)
                    guard Digest.constantTimeEquals(expected, value.lowercased()) else { throw S3Error.signatureDoesNotMatch("The trailer signature does not match.") }
                }
                trailerSigned = true
                continue
            }
            trailers[name] = value
            signedTrailerText += "\(name):\(value)\n"
        }
        if mode == .signedWithTrailer, signer != nil, !trailers.isEmpty, !trailerSigned {
            throw S3Error.signatureDoesNotMatch("The trailers are not signed.")
        }
        return Decoded(payload: payload, trailers: trailers)
    }
}
