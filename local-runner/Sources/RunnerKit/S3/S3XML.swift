import Foundation

/// S3's XML, both ways: answers written as text, and the few request documents S3 takes
/// (CompleteMultipartUpload, Delete) read by element name. No general parser is needed.
enum S3XML {
    static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
    static let declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

    /// Escapes text content. Control characters XML 1.0 cannot carry literally are written as
    /// character references, as S3 does.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" {
                    out += "&#x\(String(scalar.value, radix: 16, uppercase: true));"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    static func element(_ name: String, _ value: String) -> String { "<\(name)>\(escape(value))</\(name)>" }

    /// A whole document with the S3 namespace on its root.
    static func document(_ root: String, _ children: [String]) -> Data {
        Data((declaration + "<\(root) xmlns=\"\(namespace)\">" + children.joined() + "</\(root)>").utf8)
    }

    static func error(_ error: S3Error, resource: String, requestID: String) -> Data {
        var text = declaration + "<Error>" + element("Code", error.code) + element("Message", error.message)
        for (name, value) in error.details.sorted(by: { $0.key < $1.key }) { text += element(name, value) }
        text += element("Resource", resource) + element("RequestId", requestID) + "</Error>"
        return Data(text.utf8)
    }

    // MARK: reading

    /// The inner text of every `<name>` element (with or without attributes), in order. One
    /// pass over the bytes: a CompleteMultipartUpload of 10,000 parts is read in linear time.
    /// Past `limit` elements it stops and returns `limit + 1` of them, so callers can refuse.
    static func elements(_ name: String, in text: String, limit: Int = .max) -> [String] {
        let bytes = Array(text.utf8)
        let open = Array("<\(name)".utf8)
        let close = Array("</\(name)>".utf8)
        var results: [String] = []
        var index = 0
        func matches(_ needle: [UInt8], at position: Int) -> Bool {
            guard position + needle.count <= bytes.count else { return false }
            for offset in 0..<needle.count where bytes[position + offset] != needle[offset] { return false }
            return true
        }
        func next(_ needle: [UInt8], from start: Int) -> Int? {
            var position = start
            while position + needle.count <= bytes.count {
                if bytes[position] == needle[0] && matches(needle, at: position) { return position }
                position += 1
            }
            return nil
        }
        while results.count <= limit, let start = next(open, from: index) {
            let afterName = start + open.count
            guard afterName < bytes.count else { break }
            let following = bytes[afterName]
            // `<Part>` must not match `<PartNumber>`: the name ends at '>', '/' or whitespace.
            if following == UInt8(ascii: "/") { results.append(""); index = afterName; continue }
            guard following == UInt8(ascii: ">") || following == 32 || following == 9 || following == 10 || following == 13,
                  let tagEnd = next([UInt8(ascii: ">")], from: afterName) else {
                index = afterName
                continue
            }
            if bytes[tagEnd - 1] == UInt8(ascii: "/") { results.append(""); index = tagEnd + 1; continue }
            let contentStart = tagEnd + 1
            guard let end = next(close, from: contentStart) else { break }
            results.append(String(decoding: bytes[contentStart..<end], as: UTF8.self))
            index = end + close.count
        }
        return results
    }

    /// The unescaped text of the first `<name>` element.
    static func text(_ name: String, in text: String) -> String? { elements(name, in: text).first.map(unescape) }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else { out += rest[amp...]; return out }
            let entity = rest[rest.index(after: amp)..<semicolon]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let scalar: UInt32?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") { scalar = UInt32(entity.dropFirst(2), radix: 16) }
                else if entity.hasPrefix("#") { scalar = UInt32(entity.dropFirst(1)) }
                else { scalar = nil }
                if let scalar, let character = Unicode.Scalar(scalar) { out.unicodeScalars.append(character) } else { out += rest[amp...semicolon] }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        out += rest
        return out
    }
}
