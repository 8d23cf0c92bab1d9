#if canImport(Glibc)
import Glibc
#endif

/// A write-only file with a large buffer and allocation-free number formatting, for
/// writing hundreds of megabytes of CSV quickly.
public struct BufferedFile: ~Copyable {
    private let fd: Int32
    private let path: String
    private var buffer: UnsafeMutablePointer<UInt8>
    private var used = 0
    private let capacity = 1 << 20
    public private(set) var bytesWritten: Int64 = 0

    public init(path: String) throws(FunctionError) {
        // A new file only, and never through a symlink: outputs must not replace what they
        // did not create (a planted `ratings.csv -> /etc/...` is refused, not followed).
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw FunctionError.invalidInput("cannot write \(path): \(String(cString: strerror(errno)))") }
        self.path = path
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    @inline(__always)
    public mutating func byte(_ value: UInt8) throws(FunctionError) {
        if used == capacity { try flush() }
        buffer[used] = value
        used += 1
    }

    public mutating func write(_ text: String) throws(FunctionError) {
        for value in text.utf8 { try byte(value) }
    }

    /// A CSV field, quoted (with doubled quotes) when it holds a comma, quote or line break.
    public mutating func csvField(_ text: String) throws(FunctionError) {
        if text.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) {
            try byte(UInt8(ascii: "\""))
            for value in text.utf8 {
                if value == UInt8(ascii: "\"") { try byte(value) }
                try byte(value)
            }
            try byte(UInt8(ascii: "\""))
        } else {
            try write(text)
        }
    }

    @inline(__always)
    public mutating func integer(_ value: Int) throws(FunctionError) {
        if used + 24 > capacity { try flush() }
        var v = value
        if v < 0 { buffer[used] = UInt8(ascii: "-"); used += 1; v = -v }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let count = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var n = 0
            repeat {
                raw[n] = UInt8(v % 10) + UInt8(ascii: "0")
                v /= 10
                n += 1
            } while v > 0
            return n
        }
        withUnsafeBytes(of: &digits) { raw in
            for i in 0..<count { buffer[used + i] = raw[count - 1 - i] }
        }
        used += count
    }

    /// A non-negative number with exactly `decimals` decimals (no locale, no allocation).
    public mutating func fixed(_ value: Double, decimals: Int) throws(FunctionError) {
        var scale = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int((value * Double(scale)).rounded())
        try integer(scaled / scale)
        if decimals > 0 {
            try byte(UInt8(ascii: "."))
            var fraction = scaled % scale
            var divisor = scale / 10
            while divisor > 0 {
                try byte(UInt8(fraction / divisor) + UInt8(ascii: "0"))
                fraction %= divisor
                divisor /= 10
            }
        }
    }

    public mutating func flush() throws(FunctionError) {
        var offset = 0
        while offset < used {
            let n = Glibc.write(fd, buffer + offset, used - offset)
            guard n > 0 else { throw FunctionError.internal("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        bytesWritten += Int64(used)
        used = 0
    }
}
