extension StringProtocol {
    /// The string without leading and trailing ASCII whitespace (FoundationEssentials has no CharacterSet trimming).
    public var trimmed: String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }  // "\r\n" is one Character
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) }) ?? first
        return String(self[first...last])
    }
}

/// Percent-decoding for query strings and S3 keys.
public func percentDecode(_ text: Substring, plusIsSpace: Bool = true) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
        if byte == UInt8(ascii: "%"), iterator.count >= 2,
           let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) {
            bytes.append(value)
            iterator = iterator.dropFirst(2)
        } else if byte == UInt8(ascii: "+") && plusIsSpace {
            bytes.append(UInt8(ascii: " "))
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// RFC 3986 percent-encoding; `/` kept when `keepSlash` (S3 object paths).
public func percentEncode(_ text: String, keepSlash: Bool = false) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        case UInt8(ascii: "/") where keepSlash:
            out.append("/")
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out.append("%")
            out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
            out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 15)]))
        }
    }
    return out
}
