#if canImport(Glibc)
import Glibc
#endif

/// A streaming RFC 4180 reader over a file descriptor: fixed memory whatever the file size,
/// fields handed out as byte ranges into its buffer (valid until the next record), no
/// allocation per record. Quoted fields may hold commas, doubled quotes and newlines.
public struct CSVReader: ~Copyable {
    public struct Field {
        public var start: Int
        public var end: Int
        public var quoted: Bool
        public var hasEscapedQuote: Bool
    }

    public struct SyntaxError: Error {
        public var line: Int
        public var reason: String
    }

    private let fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var dataStart = 0
    private var dataEnd = 0
    private var atEOF = false
    private var nextLine = 1
    public private(set) var fields: [Field] = []
    /// The physical line the current record starts on (1-based; the header is line 1).
    public private(set) var line = 0
    /// True when the last record of the file had no line terminator (possibly a cut-off file).
    public private(set) var lastRecordUnterminated = false
    public private(set) var bytesRead: Int64 = 0

    public init(path: String, bufferSize: Int = 4 << 20) throws(FunctionError) {
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FunctionError.invalidInput("cannot open \(path): \(String(cString: strerror(errno)))") }
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
        fields.reserveCapacity(16)
        #if os(Linux)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    /// Bytes of field `index` of the current record, quotes stripped (doubled quotes still doubled).
    @inline(__always)
    public func bytes(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        let field = fields[index]
        let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UInt8.self)
        return UnsafeBufferPointer(start: base + field.start, count: field.end - field.start)
    }

    /// The field as a String, with doubled quotes undone; nil when it is not valid UTF-8.
    public func string(_ index: Int) -> String? {
        let raw = bytes(index)
        guard fields[index].hasEscapedQuote else { return String(validating: raw, as: UTF8.self) }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            unescaped.append(raw[i])
            i += (raw[i] == UInt8(ascii: "\"") && i + 1 < raw.count && raw[i + 1] == UInt8(ascii: "\"")) ? 2 : 1
        }
        return String(validating: unescaped, as: UTF8.self)
    }

    /// Reads the next record; false at the end of the file.
    public mutating func next() throws(SyntaxError) -> Bool {
        while true {
            if let outcome = try parseRecord() { return outcome }
            // The record runs past the buffered data: keep its start, read more, parse again.
            if !refill() {
                throw SyntaxError(line: nextLine, reason: "record does not fit in \(buffer.count) bytes")
            }
        }
    }

    /// nil means "need more data".
    private mutating func parseRecord() throws(SyntaxError) -> Bool? {
        if dataStart == dataEnd && atEOF { return false }
        if dataStart == dataEnd { return nil }
        let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UInt8.self)
        let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\""), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        fields.removeAll(keepingCapacity: true)
        var position = dataStart
        var newlinesInRecord = 0
        while true {
            // One field.
            if position < dataEnd && base[position] == quote {
                var cursor = position + 1
                var escaped = false
                while true {
                    guard cursor < dataEnd else {
                        if atEOF { throw SyntaxError(line: nextLine, reason: "quoted field is never closed") }
                        return nil
                    }
                    let byte = base[cursor]
                    if byte == quote {
                        if cursor + 1 < dataEnd && base[cursor + 1] == quote { escaped = true; cursor += 2; continue }
                        if cursor + 1 == dataEnd && !atEOF { return nil }
                        break
                    }
                    if byte == newline { newlinesInRecord += 1 }
                    cursor += 1
                }
                fields.append(Field(start: position + 1, end: cursor, quoted: true, hasEscapedQuote: escaped))
                position = cursor + 1
                if position < dataEnd, base[position] != comma, base[position] != newline, base[position] != cr {
                    throw SyntaxError(line: nextLine + newlinesInRecord, reason: "unexpected character after a closing quote")
                }
            } else {
                var cursor = position
                while cursor < dataEnd {
                    let byte = base[cursor]
                    if byte == comma || byte == newline { break }
                    cursor += 1
                }
                if cursor == dataEnd && !atEOF { return nil }
                var end = cursor
                if end > position && base[end - 1] == cr && (cursor == dataEnd || base[cursor] == newline) { end -= 1 }
                fields.append(Field(start: position, end: end, quoted: false, hasEscapedQuote: false))
                position = cursor
            }
            // After a field: a comma, a line end, or the end of the file.
            if position < dataEnd && base[position] == cr && position + 1 < dataEnd && base[position + 1] == newline { position += 1 }
            if position >= dataEnd {
                if !atEOF { return nil }
                lastRecordUnterminated = true
                finishRecord(at: dataEnd, newlines: newlinesInRecord)
                return true
            }
            if base[position] == newline {
                finishRecord(at: position + 1, newlines: newlinesInRecord + 1)
                return true
            }
            position += 1  // the comma
            if position == dataEnd && !atEOF { return nil }
        }
    }

    private mutating func finishRecord(at position: Int, newlines: Int) {
        line = nextLine
        nextLine += newlines
        dataStart = position
    }

    /// Moves the unparsed tail to the front and reads more. False when the buffer is full of one record.
    private mutating func refill() -> Bool {
        if dataStart > 0 {
            let remaining = dataEnd - dataStart
            if remaining > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + dataStart, byteCount: remaining) }
            dataStart = 0
            dataEnd = remaining
        }
        if dataEnd == buffer.count { return false }
        let n = read(fd, buffer.baseAddress! + dataEnd, buffer.count - dataEnd)
        if n <= 0 { atEOF = true } else { dataEnd += n; bytesRead += Int64(n) }
        return true
    }
}

/// Strict ASCII number parsing on field bytes: no allocation, no locale, no leading '+'.
public enum FieldParser {
    @inline(__always)
    public static func int64(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        var negative = false
        if bytes.count > 0 && bytes[0] == UInt8(ascii: "-") { negative = true; index = 1 }
        guard index < bytes.count, bytes.count - index <= 18 else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value &* 10 &+ Int64(digit)
            index += 1
        }
        return negative ? -value : value
    }

    @inline(__always)
    public static func int32(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard let value = int64(bytes), value >= Int64(Int32.min), value <= Int64(Int32.max) else { return nil }
        return Int32(value)
    }

    /// A rating as a count of half stars ("3.5" -> 7); nil when it is not on the half-star grid.
    @inline(__always)
    public static func halfStars(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = 0
        var whole = 0
        var digits = 0
        while index < bytes.count, bytes[index] != UInt8(ascii: ".") {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10, digits < 3 else { return nil }
            whole = whole * 10 + Int(digit)
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        var half = 0
        if index < bytes.count {  // the fraction: "5", "0", "50", "00"...
            index += 1
            guard index < bytes.count else { return nil }
            let first = bytes[index] &- UInt8(ascii: "0")
            guard first == 0 || first == 5 else { return nil }
            half = first == 5 ? 1 : 0
            index += 1
            while index < bytes.count {
                guard bytes[index] == UInt8(ascii: "0") else { return nil }
                index += 1
            }
        }
        return whole * 2 + half
    }

    /// A decimal number (genome relevance); nil for anything that is not one.
    public static func double(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        guard bytes.count > 0, bytes.count < 40 else { return nil }
        var text = ""
        text.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"):
                text.unicodeScalars.append(Unicode.Scalar(byte))
            default: return nil
            }
        }
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }
}
