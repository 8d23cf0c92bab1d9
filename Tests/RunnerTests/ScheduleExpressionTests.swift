import Foundation
import Testing
@testable import RunnerKit

/// EventBridge expressions and their next fire times, in UTC.
@Suite struct ScheduleExpressionTests {
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.date(from: text) ?? Date.distantPast
    }

    /// (expression, after, expected next fire)
    static let table: [(String, String, String)] = [
        ("cron(0 2 * * ? *)", "2026-11-27T03:00:00Z", "2026-11-28T02:00:00Z"),          // the nightly pipeline
        ("cron(0 2 * * ? *)", "2026-11-27T01:59:30Z", "2026-11-27T02:00:00Z"),
        ("cron(0 2 * * ? *)", "2026-11-27T02:00:00Z", "2026-11-28T02:00:00Z"),          // strictly after
        ("cron(15 10 ? * 6L 2026-2027)", "2026-11-01T00:00:00Z", "2026-11-27T10:15:00Z"), // last Friday of November 2026
        ("cron(0/15 * * * ? *)", "2026-11-27T03:07:00Z", "2026-11-27T03:15:00Z"),
        ("cron(0 18 ? * MON-FRI *)", "2026-11-27T19:00:00Z", "2026-11-30T18:00:00Z"),    // Friday evening: next Monday
        ("cron(0 8 1 * ? *)", "2026-11-27T00:00:00Z", "2026-12-01T08:00:00Z"),
        ("cron(0 0 L * ? *)", "2027-02-01T00:00:00Z", "2027-02-28T00:00:00Z"),
        ("cron(0 0 L * ? *)", "2028-02-01T00:00:00Z", "2028-02-29T00:00:00Z"),          // leap year
        ("cron(0 9 LW * ? *)", "2026-10-01T00:00:00Z", "2026-10-30T09:00:00Z"),         // Oct 31 2026 is a Saturday
        ("cron(0 9 15W * ? *)", "2026-11-01T00:00:00Z", "2026-11-16T09:00:00Z"),        // Nov 15 2026 is a Sunday
        ("cron(0 9 1W * ? *)", "2026-08-01T00:00:00Z", "2026-08-03T09:00:00Z"),         // Aug 1 2026 is a Saturday: Monday the 3rd
        ("cron(30 12 ? * 6#3 *)", "2026-11-01T00:00:00Z", "2026-11-20T12:30:00Z"),      // third Friday
        ("cron(0 12 ? * SUN,SAT *)", "2026-11-27T00:00:00Z", "2026-11-28T12:00:00Z"),
        ("cron(0 12 ? * 1 *)", "2026-11-27T00:00:00Z", "2026-11-29T12:00:00Z"),         // 1 is Sunday
        ("cron(5,35 14-15 * JAN,DEC ? *)", "2026-11-27T00:00:00Z", "2026-12-01T14:05:00Z"),
        ("cron(0 0 29 2 ? *)", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("cron(0 10 * * ? 2030)", "2026-11-27T00:00:00Z", "2030-01-01T10:00:00Z"),
    ]

    @Test(arguments: table) func cronFiresWhenEventBridgeWould(_ row: (String, String, String)) throws {
        let expression = try ScheduleExpression.parse(row.0)
        let next = expression.nextFire(after: Self.date(row.1), origin: Self.date(row.1))
        #expect(next == Self.date(row.2), "\(row.0) after \(row.1)")
    }

    @Test func aCronWhoseYearsArePastNeverFires() throws {
        let expression = try ScheduleExpression.parse("cron(0 10 * * ? 2020)")
        #expect(expression.nextFire(after: Self.date("2026-01-01T00:00:00Z"), origin: Date()) == nil)
    }

    @Test func ratesCountFromTheirOrigin() throws {
        let origin = Self.date("2026-11-27T03:00:00Z")
        #expect(try ScheduleExpression.parse("rate(5 minutes)").nextFire(after: origin, origin: origin) == Self.date("2026-11-27T03:05:00Z"))
        #expect(try ScheduleExpression.parse("rate(5 minutes)").nextFire(after: Self.date("2026-11-27T03:07:10Z"), origin: origin) == Self.date("2026-11-27T03:10:00Z"))
        #expect(try ScheduleExpression.parse("rate(1 day)").nextFire(after: origin, origin: origin) == Self.date("2026-11-28T03:00:00Z"))
        #expect(try ScheduleExpression.parse("rate(2 hours)").nextFire(after: origin, origin: origin) == Self.date("2026-11-27T05:00:00Z"))
        #expect(try ScheduleExpression.parse("rate(1 minute)") == .rate(seconds: 60))
    }

    @Test(arguments: [
        "rate(1 days)", "rate(5 minute)", "rate(0 minutes)", "rate(-1 hours)", "rate(5 weeks)", "rate(five minutes)",
        "cron(0 2 * * * *)",        // both day fields given
        "cron(0 2 ? * ? *)",        // neither
        "cron(0 2 * *)",            // too few fields
        "cron(60 2 * * ? *)", "cron(0 24 * * ? *)", "cron(0 2 32 * ? *)", "cron(0 2 ? * 8 *)", "cron(0 2 * 13 ? *)",
        "cron(0 2 ? * 6#6 *)", "cron(0 2 ? * FOO *)", "cron(5-1 * * * ? *)", "cron(*/0 * * * ? *)", "cron(0 2 * * ? 1969)",
        "every day", "cron(0 2 * * ? *",
    ]) func badExpressionsAreRefusedWithAReason(_ text: String) {
        #expect(throws: ScheduleError.self) { try ScheduleExpression.parse(text) }
    }

    @Test func errorsSayWhatIsWrong() {
        do {
            _ = try ScheduleExpression.parse("rate(1 days)")
            Issue.record("accepted rate(1 days)")
        } catch {
            #expect("\(error)".contains("rate(1 day)"))
        }
    }
}
