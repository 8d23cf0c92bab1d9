import Foundation

/// The two date forms S3 writes: RFC 1123 in headers (Last-Modified) and ISO 8601 with
/// milliseconds in XML. Formatted by hand from gmtime: no formatter, no locale, no lock.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static func parts(_ seconds: Double) -> tm {
        var time = time_t(seconds.rounded(.down))
        var value = tm()
        gmtime_r(&time, &value)
        return value
    }

    private static func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// `Wed, 21 Oct 2015 07:28:00 GMT`
    static func rfc1123(_ seconds: Double) -> String {
        let t = parts(seconds)
        return "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) \(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
    }

    /// `2015-10-21T07:28:00.000Z`
    static func iso8601(_ seconds: Double) -> String {
        let t = parts(seconds)
        let milliseconds = Int((seconds - seconds.rounded(.down)) * 1000)
        let ms = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday))T\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)).\(ms)Z"
    }

    /// Parses the RFC 1123 form (If-Modified-Since and friends); nil otherwise.
    static func parseRFC1123(_ text: String) -> Double? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, let day = Int32(fields[1]), let month = months.firstIndex(of: String(fields[2])), let year = Int32(fields[3]) else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3 else { return nil }
        var value = tm()
        value.tm_year = year - 1900; value.tm_mon = Int32(month); value.tm_mday = day
        value.tm_hour = clock[0]; value.tm_min = clock[1]; value.tm_sec = clock[2]
        return Double(timegm(&value))
    }
}
