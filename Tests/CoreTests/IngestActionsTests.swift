import Foundation
import Testing
@testable import Core

@Suite struct IngestActionsTests {
    func loaded(ratings: Int = 0) throws -> Database {
        let (database, _) = try TestServices.migratedDatabase()
        let source = ratings > 0 ? try synthesized(ratings: ratings, seed: 11).0 : try TinyDataset().write()
        _ = try DatasetImporter.run(ImportRequest(source: source), database: database, storage: nil)
        return database
    }

    @Test func rateCreatesNewUsersAndUpserts() throws {
        let database = try loaded()
        let first = try Ratings.rate(.init(userId: 500, ratings: [.init(movieId: 1, rating: 4.5), .init(movieId: 2, rating: 3)]), database: database, now: 1_700_000_000)
        #expect(first.newUser)
        #expect(first.inserted == 2)
        #expect(first.updated == 0)
        let second = try Ratings.rate(.init(userId: 500, ratings: [.init(movieId: 1, rating: 2), .init(movieId: 3, rating: 5)]), database: database, now: 1_700_000_100)
        #expect(!second.newUser)
        #expect(second.inserted == 1)
        #expect(second.updated == 1)
        let row = try database.execute("SELECT rating, \"timestamp\" FROM ratings WHERE user_id = 500 AND movie_id = 1")
        #expect(row.double(0, 0) == 2)
        #expect(row.int(0, 1) == 1_700_000_100)
        let stats = try Ratings.stats(database: database)
        #expect(stats.ratings == 10)
        #expect(stats.users == 5)
        // Totals follow updates too: the stats average equals a full scan's.
        let scanned = try database.execute("SELECT avg(rating) FROM ratings").double(0, 0)!
        #expect(abs(stats.averageRating! - scanned) < 1e-4)
    }

    @Test func rateRejectsBadInputAndChangesNothing() throws {
        let database = try loaded()
        let before = try tableCounts(database)
        let cases: [(Ratings.RateRequest, Int, String)] = [
            (.init(userId: 0, ratings: [.init(movieId: 1, rating: 4)]), 400, "user_id"),
            (.init(userId: 9, ratings: []), 400, "at least one"),
            (.init(userId: 9, ratings: [.init(movieId: 1, rating: 5.5)]), 400, "ratings[0].rating"),
            (.init(userId: 9, ratings: [.init(movieId: 1, rating: 3.25)]), 400, "half-star"),
            (.init(userId: 9, ratings: [.init(movieId: 1, rating: 3), .init(movieId: 1, rating: 4)]), 400, "twice"),
            (.init(userId: 9, ratings: [.init(movieId: 1, rating: 3), .init(movieId: 404, rating: 4)]), 422, "unknown movie_id: 404"),
            (.init(userId: 9, ratings: Array(repeating: .init(movieId: 1, rating: 3), count: 1001)), 413, "at most 1000"),
        ]
        for (request, status, text) in cases {
            do { _ = try Ratings.rate(request, database: database); Issue.record("accepted \(text)") } catch {
                #expect(error.status == status, "\(error.message)")
                #expect(error.message.contains(text), "\(error.message)")
            }
        }
        #expect(try tableCounts(database) == before)
    }

    @Test func generateFollowsTheDataAndNeverDuplicates() throws {
        let database = try loaded(ratings: 60_000)
        let before = try database.execute("SELECT count(*), avg(rating) FROM ratings")
        let result = try Ratings.generate(batchSize: 2_000, shift: 0, seed: 1, database: database, now: 1_800_000_000)
        #expect(result.inserted == 2_000)
        let after = try database.execute("SELECT count(*) FROM ratings").int(0, 0)!
        #expect(after == before.int(0, 0)! + 2_000)
        #expect(abs(result.meanRating! - before.double(0, 1)!) < 0.15)  // same distribution, no shift
        let fresh = try database.execute("SELECT count(*), min(\"timestamp\"), max(\"timestamp\") FROM ratings WHERE \"timestamp\" >= 1800000000 - 7 * 86400")  // the default window: a week
        #expect(fresh.int(0, 0) == 2_000)
        #expect(fresh.int(0, 2)! <= 1_800_000_000)
        let shifted = try Ratings.generate(batchSize: 1_000, shift: -1.5, seed: 2, database: database)
        #expect(shifted.meanRating! < before.double(0, 1)! - 1)
        #expect(try Ratings.stats(database: database).ratings == after + 1_000)
    }

    @Test func generateIsBounded() throws {
        let database = try loaded()
        for size in [0, 100_001] {
            do { _ = try Ratings.generate(batchSize: size, shift: 0, seed: nil, database: database); Issue.record("accepted \(size)") } catch {
                #expect(error.status == 400)
            }
        }
        let (empty, _) = try TestServices.migratedDatabase()
        do { _ = try Ratings.generate(batchSize: 5, shift: 0, seed: nil, database: empty); Issue.record("generated from nothing") } catch {
            #expect(error.status == 409)
            #expect(error.message.contains("import a dataset first"))
        }
    }

    @Test func randomSamplesCarryTitlesAndRespectBounds() throws {
        let database = try loaded(ratings: 60_000)
        let sample = try Ratings.random(n: 25, userId: nil, database: database)
        #expect(sample.count == 25)
        #expect(Set(sample.map(\.userId)).count > 3)  // not one user's block
        #expect(sample.allSatisfy { !$0.title.isEmpty && $0.rating >= 0.5 })
        let mine = try Ratings.random(n: 5, userId: 7, database: database)
        #expect(mine.count == 5)
        #expect(mine.allSatisfy { $0.userId == 7 })
        do { _ = try Ratings.random(n: 1001, userId: nil, database: database); Issue.record("accepted") } catch { #expect(error.status == 400) }
        do { _ = try Ratings.random(n: 3, userId: 9_999_999, database: database); Issue.record("accepted") } catch { #expect(error.status == 404) }
    }
}
