import Foundation
import Testing
@testable import Core

/// The nightly generator must not cry wolf: batches drawn with shift 0 look like the stored
/// ratings on every drift feature, and shift moves `rating` alone.
@Suite struct NightlyDriftTests {
    let day: Int64 = 86_400

    func statistics(_ answer: JSONValue?) -> String {
        (answer?["features"]?.array ?? []).map { feature in
            let value = feature["statistic"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? .nan
            return "\(feature["name"]?.stringValue ?? "?") \(feature["method"]?.stringValue ?? "?") \((value * 1000).rounded() / 1000)"
        }.joined(separator: ", ")
    }

    @Test func sevenNightlyBatchesOnTheDemoDataFlagNothingAndShiftFlagsRating() throws {
        let (database, _) = try TestServices.migratedDatabase()
        // The runner's demo (--demo-ratings 1000000 by default): seed 1, default users and movies.
        _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: 1_000_000, seed: 1).0), database: database, storage: nil)
        let drift = DriftFunction(database: database, store: nil)
        let start: Int64 = 1_900_000_000
        drift.clock = { start }
        let helper = DriftTests()
        #expect(try helper.call(drift, "POST", "/monitoring/drift/baseline").0 == 201)

        // As the template's nightly step asks: {action: generate, spread_days: 7}, once a night.
        let batch = 20_000
        for night in 1...7 {
            let now = start + Int64(night) * day
            let result = try Ratings.generate(batchSize: batch, shift: 0, seed: UInt64(night), database: database, now: now)
            #expect(result.inserted == batch)
            if night == 1 {
                drift.clock = { now }
                let (_, single, _) = try helper.call(drift, "GET", "/monitoring/drift", ["last_ratings": String(batch)])
                print("one unshifted batch: \(statistics(single))")
                #expect(single?["current"]?["rows"]?.int == batch)
                #expect(helper.drifted(single).isEmpty, "\(statistics(single))")
            }
        }
        drift.clock = { start + 7 * day }
        let (status, week, _) = try helper.call(drift, "GET", "/monitoring/drift", ["days": "7"])
        #expect(status == 200)
        print("seven unshifted batches, days=7: \(statistics(week))")
        #expect(helper.drifted(week).isEmpty, "\(statistics(week))")
        #expect(week?["drift_detected"] == .bool(false))

        // A demo batch with shift -1 a month later (alone in its window): rating, and only rating.
        let later = start + 40 * day
        _ = try Ratings.generate(batchSize: batch, shift: -1, seed: 99, database: database, now: later)
        drift.clock = { later }
        let (_, shifted, _) = try helper.call(drift, "GET", "/monitoring/drift", ["last_ratings": String(batch)])
        print("one batch with shift -1: \(statistics(shifted))")
        #expect(helper.drifted(shifted) == ["rating"], "\(statistics(shifted))")
    }

    @Test func timesKeepTheTimeOfDayInsideTheWindow() {
        var random = SeededGenerator(seed: 3)
        let model: Int64 = 1_000_000_000 + 13 * 3_600 + 125
        let window = Ratings.TimeWindow(start: 1_900_000_000 - 7 * 86_400, end: 1_900_000_000)
        let weekdays = [Int](repeating: 2, count: 50)
        for index in 0..<50 {
            let time = window.place(model, on: weekdays, at: index, random: &random)
            #expect(time >= window.start && time < window.end)
            #expect(time % 86_400 == model % 86_400)
            #expect(Ratings.TimeWindow.weekday(ofDay: time / 86_400) == 2)
        }
    }

    /// Four batches at once (issue 20, item 8: two or three of four used to die in a deadlock).
    @Test func concurrentBatchesNeverDeadlock() throws {
        let (database, url) = try TestServices.migratedDatabase()
        _ = try DatasetImporter.run(ImportRequest(source: try synthesized(ratings: 30_000, seed: 5).0), database: database, storage: nil)
        let before = try database.execute("SELECT count(*) FROM ratings").int(0, 0) ?? 0
        let outcomes = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            do {
                // Each batch on its own connection, as four function instances would be.
                let result = try Ratings.generate(batchSize: 2_000, shift: 0, seed: UInt64(index + 1), database: try Database(url: url))
                outcomes.withLock { $0.append("inserted \(result.inserted)") }
            } catch {
                outcomes.withLock { $0.append("\(error)") }
            }
        }
        #expect(outcomes.withLock { $0 } == Array(repeating: "inserted 2000", count: 4))
        #expect(try database.execute("SELECT count(*) FROM ratings").int(0, 0) == before + 8_000)
        #expect(try Ratings.stats(database: database).ratings == before + 8_000)  // the counters agree
    }
}
