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

    /// The inner text of every `<name>` element (with or without attributes), in order.
    static func elements(_ name: String, in text: String) -> [String] {
        var results: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "<\(name)") {
            // `<Part>` must not match `<PartNumber>`: the name ends at '>', '/' or whitespace.
            guard let next = rest[open.upperBound...].first else { break }
            if next == "/" { results.append(""); rest = rest[open.upperBound...]; continue }
            guard next == ">" || next == " " || next == "\t" || next == "\n" || next == "\r",
                  let tagEnd = rest[open.upperBound...].firstIndex(of: ">") else {
                rest = rest[open.upperBound...]
                continue
            }
            if rest[rest.index(before: tagEnd)] == "/" { results.append(""); rest = rest[rest.index(after: tagEnd)...]; continue }
            let contentStart = rest.index(after: tagEnd)
            guard let close = rest[contentStart...].range(of: "</\(name)>") else { break }
            results.append(String(rest[contentStart..<close.lowerBound]))
            rest = rest[close.upperBound...]
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
