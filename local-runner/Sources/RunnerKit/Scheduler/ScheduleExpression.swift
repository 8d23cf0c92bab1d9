import Foundation

/// An EventBridge schedule expression, evaluated in UTC: `cron(min hour dom month dow year)` or
/// `rate(N unit)`. Parsing checks everything EventBridge checks, so an expression that works
/// here is accepted on AWS and fires at the same minutes.
enum ScheduleExpression: Equatable {
    case cron(CronExpression)
    /// Every `seconds`, counted from when the schedule was created (the runner's start).
    case rate(seconds: Int)

    static func parse(_ text: String) throws -> ScheduleExpression {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("cron(") && trimmed.hasSuffix(")") {
            return .cron(try CronExpression(String(trimmed.dropFirst(5).dropLast())))
        }
        if trimmed.hasPrefix("rate(") && trimmed.hasSuffix(")") {
            return .rate(seconds: try parseRate(String(trimmed.dropFirst(5).dropLast()), expression: text))
        }
        throw ScheduleError(text, "an expression is cron(...) or rate(...)")
    }

    /// `rate(1 day)`, `rate(5 minutes)`: a positive whole number and its unit, singular for 1
    /// and plural otherwise (EventBridge refuses `rate(1 days)` and `rate(5 minute)`).
    static func parseRate(_ body: String, expression: String) throws -> Int {
        let parts = body.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, let value = Int(parts[0]), value > 0, value <= 1_000_000 else {
            throw ScheduleError(expression, "rate takes a positive whole number and a unit, e.g. rate(5 minutes)")
        }
        let unit = String(parts[1])
        let seconds: [String: Int] = ["minute": 60, "hour": 3600, "day": 86400]
        let singular = unit.hasSuffix("s") ? String(unit.dropLast()) : unit
        guard let perUnit = seconds[singular] else { throw ScheduleError(expression, "the unit is minute(s), hour(s) or day(s), not \(unit)") }
        if value == 1 && unit != singular { throw ScheduleError(expression, "a rate of 1 takes the singular: rate(1 \(singular))") }
        if value != 1 && unit == singular { throw ScheduleError(expression, "a rate above 1 takes the plural: rate(\(value) \(singular)s)") }
        return value * perUnit
    }

    /// The first fire time strictly after `date`. A rate counts from `origin`.
    func nextFire(after date: Date, origin: Date) -> Date? {
        switch self {
        case .cron(let cron): return cron.nextFire(after: date)
        case .rate(let seconds):
            let elapsed = date.timeIntervalSince(origin)
            let periods = elapsed < 0 ? 0 : floor(elapsed / Double(seconds)) + 1
            return origin.addingTimeInterval(periods * Double(seconds))
        }
    }
}

struct ScheduleError: Error, CustomStringConvertible {
    var description: String
    init(_ expression: String, _ problem: String) { description = "schedule expression \(expression): \(problem)" }
}

/// The six cron fields as EventBridge reads them. Day of week runs 1-7 from Sunday (SUN-SAT);
/// exactly one of day-of-month and day-of-week is `?`.
struct CronExpression: Equatable {
    enum DayRule: Equatable {
        case any
        case days(Set<Int>)          // day of month, or day of week 1-7
        case lastDayOfMonth          // L (day of month)
        case lastWeekdayOfMonth      // LW
        case nearestWeekday(Int)     // 15W
        case lastInMonth(weekday: Int)         // 6L: the last Friday
        case nth(weekday: Int, week: Int)      // 6#3: the third Friday
    }

    var minutes: Set<Int>
    var hours: Set<Int>
    var dayOfMonth: DayRule
    var months: Set<Int>
    var dayOfWeek: DayRule
    var years: Set<Int>?   // nil: every year

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    init(_ body: String) throws {
        let expression = "cron(\(body))"
        let fields = body.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 6 else {
            throw ScheduleError(expression, "cron takes six fields (minutes hours day-of-month month day-of-week year), found \(fields.count)")
        }
        func field(_ index: Int, _ name: String, _ range: ClosedRange<Int>, names: [String] = [], nameBase: Int = 1) throws -> Set<Int> {
            try Self.values(fields[index], name: name, range: range, names: names, nameBase: nameBase, expression: expression)
        }
        minutes = try field(0, "minutes", 0...59)
        hours = try field(1, "hours", 0...23)
        months = try field(3, "month", 1...12, names: Self.monthNames)
        years = fields[5] == "*" ? nil : try field(5, "year", 1970...2199)
        let domText = fields[2], dowText = fields[4]
        guard (domText == "?") != (dowText == "?") else {
            throw ScheduleError(expression, "exactly one of day-of-month and day-of-week must be ?, e.g. cron(0 2 * * ? *)")
        }
        if domText == "?" {
            dayOfMonth = .any
        } else if domText == "*" {
            dayOfMonth = .any
        } else if domText == "L" {
            dayOfMonth = .lastDayOfMonth
        } else if domText == "LW" {
            dayOfMonth = .lastWeekdayOfMonth
        } else if domText.hasSuffix("W") {
            guard let day = Int(domText.dropLast()), (1...31).contains(day) else { throw ScheduleError(expression, "W follows a day of month 1-31, e.g. 15W") }
            dayOfMonth = .nearestWeekday(day)
        } else {
            dayOfMonth = .days(try field(2, "day-of-month", 1...31))
        }
        if dowText == "?" || dowText == "*" {
            dayOfWeek = .any
        } else if dowText.hasSuffix("L") && dowText.count > 1 {
            let day = try Self.values(String(dowText.dropLast()), name: "day-of-week", range: 1...7, names: Self.dayNames, nameBase: 1, expression: expression)
            guard day.count == 1, let weekday = day.first else { throw ScheduleError(expression, "L follows one day of week, e.g. 6L for the last Friday") }
            dayOfWeek = .lastInMonth(weekday: weekday)
        } else if dowText == "L" {
            dayOfWeek = .days([7])
        } else if dowText.contains("#") {
            let parts = dowText.split(separator: "#")
            let day = parts.count == 2 ? try Self.values(String(parts[0]), name: "day-of-week", range: 1...7, names: Self.dayNames, nameBase: 1, expression: expression) : []
            guard day.count == 1, let weekday = day.first, parts.count == 2, let week = Int(parts[1]), (1...5).contains(week) else {
                throw ScheduleError(expression, "# takes a day of week and a week 1-5, e.g. 6#3 for the third Friday")
            }
            dayOfWeek = .nth(weekday: weekday, week: week)
        } else {
            dayOfWeek = .days(try field(4, "day-of-week", 1...7, names: Self.dayNames))
        }
    }

    /// A field's values: `*`, a value, a name, `a-b`, `a/step`, `*/step`, `a-b/step`, comma lists.
    static func values(_ text: String, name: String, range: ClosedRange<Int>, names: [String], nameBase: Int, expression: String) throws -> Set<Int> {
        func number(_ token: Substring) throws -> Int {
            if let value = Int(token), range.contains(value) { return value }
            if let index = names.firstIndex(of: token.uppercased()) { return index + nameBase }
            throw ScheduleError(expression, "\(name) takes \(range.lowerBound)-\(range.upperBound)\(names.isEmpty ? "" : " or \(names.first ?? "")-\(names.last ?? "")"), not \(token)")
        }
        var result = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw ScheduleError(expression, "empty item in the \(name) field") }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw ScheduleError(expression, "one / per item in the \(name) field") }
            var step = 1
            if stepParts.count == 2 {
                guard let value = Int(stepParts[1]), value > 0 else { throw ScheduleError(expression, "the step after / in \(name) is a positive number") }
                step = value
            }
            let base = stepParts[0]
            var low: Int, high: Int
            if base == "*" {
                low = range.lowerBound; high = range.upperBound
            } else if base.contains("-") {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count == 2 else { throw ScheduleError(expression, "a range in \(name) is a-b") }
                low = try number(bounds[0]); high = try number(bounds[1])
                guard low <= high else { throw ScheduleError(expression, "the range \(base) in \(name) runs backwards") }
            } else {
                low = try number(base)
                high = stepParts.count == 2 ? range.upperBound : low
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    func nextFire(after date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone.current
        // Start at the next whole minute.
        let start = date.addingTimeInterval(60 - date.timeIntervalSince1970.truncatingRemainder(dividingBy: 60))
        var day = calendar.startOfDay(for: start)
        let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        for _ in 0..<(366 * 30) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            guard let year = parts.year, let month = parts.month, let dayNumber = parts.day, let weekday = parts.weekday else { return nil }
            if let years, year > (years.max() ?? 0) { return nil }
            if (years?.contains(year) ?? true) && months.contains(month) && matches(day: dayNumber, weekday: weekday, year: year, month: month, calendar: calendar) {
                for hour in sortedHours {
                    for minute in sortedMinutes {
                        let candidate = day.addingTimeInterval(Double(hour * 3600 + minute * 60))
                        if candidate >= start { return candidate }
                    }
                }
            }
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = next
        }
        return nil
    }

    private func matches(day: Int, weekday: Int, year: Int, month: Int, calendar: Calendar) -> Bool {
        let daysInMonth = calendar.range(of: .day, in: .month, for: calendar.date(from: DateComponents(year: year, month: month, day: 1)) ?? Date())?.count ?? 31
        // The weekday (1 = Sunday) of another day of the same month.
        func weekdayOf(_ other: Int) -> Int { ((weekday - 1 + (other - day)) % 7 + 7) % 7 + 1 }
        func isWeekday(_ other: Int) -> Bool { (2...6).contains(weekdayOf(other)) }
        switch dayOfMonth {
        case .any: break
        case .days(let days): if !days.contains(day) { return false }
        case .lastDayOfMonth: if day != daysInMonth { return false }
        case .lastWeekdayOfMonth:
            var last = daysInMonth
            while !isWeekday(last) { last -= 1 }
            if day != last { return false }
        case .nearestWeekday(let target):
            // The weekday nearest to the target day, without leaving the month.
            let wanted = min(target, daysInMonth)
            var nearest = wanted
            if !isWeekday(wanted) {
                if weekdayOf(wanted) == 7 { nearest = wanted == 1 ? 3 : wanted - 1 }      // Saturday: Friday, or Monday the 3rd
                else { nearest = wanted == daysInMonth ? wanted - 2 : wanted + 1 }        // Sunday: Monday, or Friday before month end
            }
            if day != nearest { return false }
        case .lastInMonth, .nth: return false
        }
        switch dayOfWeek {
        case .any: return true
        case .days(let days): return days.contains(weekday)
        case .lastInMonth(let target): return weekday == target && day + 7 > daysInMonth
        case .nth(let target, let week): return weekday == target && (day - 1) / 7 + 1 == week
        case .lastDayOfMonth, .lastWeekdayOfMonth, .nearestWeekday: return false
        }
    }
}
