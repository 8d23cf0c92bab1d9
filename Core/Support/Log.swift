#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// JSON lines on stderr. stdout carries only the function's answer.
public enum Log {
    public enum Level: String, Sendable { case debug, info, warn, error }

    public static func info(_ message: String, _ fields: [String: JSONValue] = [:]) { write(.info, message, fields) }
    public static func warn(_ message: String, _ fields: [String: JSONValue] = [:]) { write(.warn, message, fields) }
    public static func error(_ message: String, _ fields: [String: JSONValue] = [:]) { write(.error, message, fields) }

    public static func write(_ level: Level, _ message: String, _ fields: [String: JSONValue]) {
        var record = fields
        record["level"] = .string(level.rawValue)
        record["msg"] = .string(message)
        record["ts"] = .number((Date().timeIntervalSince1970 * 1000).rounded() / 1000)
        line(.object(record))
    }

    /// One JSON document as one line (an Embedded Metric Format document is written as it is).
    public static func line(_ document: JSONValue) {
        var line = Data(JSON.encodeString(document).utf8)
        line.append(UInt8(ascii: "\n"))
        FunctionRuntime.writeAll(fd: 2, line)
    }
}

/// Seconds on a monotonic clock, for durations.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

public func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let string = String(cString: value)
    return string.isEmpty ? nil : string
}

/// Resident memory of this process now (VmRSS), in megabytes; 0 where /proc is not available.
public func residentMegabytes() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if text.hasPrefix("VmRSS:") {
            return (Int(text.dropFirst(6).trimmed.split(separator: " ").first ?? "0") ?? 0) / 1024
        }
    }
    return 0
}
