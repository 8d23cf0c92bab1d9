import Foundation
import Testing
@testable import Core

@Suite struct DatabaseTests {
    @Test func migrationsApplyOnceAndCreateTheSchema() throws {
        let (database, _) = try TestServices.migratedDatabase()
        #expect(try Migrations.apply(to: database).isEmpty)
        let tables = try database.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        let names = Set((0..<tables.count).compactMap { tables.string($0, 0) })
        for table in ["users", "movies", "genres", "movie_genres", "ratings", "tags", "movie_tags", "links",
                      "genome_tags", "genome_scores", "imports", "schema_migrations", "rating_totals"] {
            #expect(names.contains(table), "missing table \(table)")
        }
        let indexes = try database.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'ratings'")
        let indexNames = Set((0..<indexes.count).compactMap { indexes.string($0, 0) })
        #expect(indexNames == ["ratings_pkey", "ratings_movie_idx", "ratings_timestamp_idx"])
    }

    @Test func concurrentStartUpsMigrateOnce() throws {
        let url = try TestServices.makeDatabase()
        let results = Mutex<[Result<Int, FunctionError>]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let outcome = Result { () throws(FunctionError) -> Int in try Migrations.apply(to: try Database(url: url)).count }
            results.withLock { $0.append(outcome) }
        }
        let counts = try results.withLock { try $0.map { try $0.get() } }
        #expect(counts.reduce(0, +) == Migrations.all.count)
    }

    @Test func keywordFormAndUnixSocketsConnect() throws {
        let url = try TestServices.adminURL
        let components = URLComponents(string: url)!
        let host = components.queryItems!.first { $0.name == "host" }!.value!
        let port = components.queryItems!.first { $0.name == "port" }!.value!
        let database = try Database(url: "host=\(host) port=\(port) dbname=postgres user=postgres")
        #expect(try database.execute("SELECT 1 + 1").int(0, 0) == 2)
    }

    @Test func badURLsAre503WithTheReason() {
        do { _ = try Database(url: "postgresql:///nope?host=/nonexistent&port=1"); Issue.record("connected") } catch {
            #expect(error.status == 503)
            #expect(error.message.contains("cannot connect"))
        }
    }

    @Test func parametersAreNeverSpliced() throws {
        let (database, _) = try TestServices.migratedDatabase()
        let hostile = "x'); DROP TABLE movies; --"
        try database.execute("INSERT INTO movies (movie_id, title, genres) VALUES ($1, $2, $3)", [1, hostile, "Drama"])
        #expect(try database.execute("SELECT title FROM movies WHERE movie_id = $1", [1]).string(0, 0) == hostile)
        #expect(try database.execute("SELECT count(*) FROM movies").int(0, 0) == 1)
        #expect(try database.execute("SELECT $1::text IS NULL", [nil]).bool(0, 0) == true)
    }

    @Test func arrayParametersKeepEveryCharacter() throws {
        let (database, _) = try TestServices.migratedDatabase()
        let texts = [#"plain"#, #"a "quoted" word"#, #"back\slash"#, "comma, {brace}", "NULL", "", "ünïcødé"]
        let rows = try database.execute("SELECT unnest($1::text[])", [SQLArray(texts)])
        #expect((0..<rows.count).map { rows.string($0, 0) } == texts)
        #expect(try database.execute("SELECT array_length($1::int[], 1)", [SQLArray([3, 1, 2])]).int(0, 0) == 3)
    }

    @Test func transactionsRollBackOnError() throws {
        let (database, _) = try TestServices.migratedDatabase()
        do {
            try database.transaction { () throws(FunctionError) in
                try database.execute("INSERT INTO movies (movie_id, title, genres) VALUES (1, 'A', 'Drama')")
                try database.execute("INSERT INTO movies (movie_id, title, genres) VALUES (1, 'B', 'Drama')")
            }
            Issue.record("duplicate key accepted")
        } catch {
            #expect(error.status == 409)
        }
        #expect(try database.execute("SELECT count(*) FROM movies").int(0, 0) == 0)
    }

    @Test func copyInAndOutRoundTrip() throws {
        let (database, _) = try TestServices.migratedDatabase()
        try database.execute("INSERT INTO movies (movie_id, title, genres) VALUES (1, 'A', 'Drama'), (2, 'B', 'Comedy')")
        try database.execute("INSERT INTO users (user_id) SELECT generate_series(1, 100)")
        let rows = try database.copyIn("COPY ratings (user_id, movie_id, rating, \"timestamp\") FROM STDIN WITH (FORMAT binary)") { writer throws(FunctionError) in
            for user in 1...100 {
                for movie in 1...2 {
                    try writer.beginRow(fields: 4)
                    writer.int32(Int32(user)); writer.int32(Int32(movie)); writer.float32(Float(movie) + 0.5); writer.int64(1_000_000 + Int64(user))
                }
            }
        }
        #expect(rows == 200)
        var bytes = 0
        var lines = 0
        try database.copyOut("COPY (SELECT user_id, movie_id, rating FROM ratings ORDER BY 1, 2) TO STDOUT") { chunk throws(FunctionError) in
            bytes += chunk.count
            lines += chunk.filter { $0 == UInt8(ascii: "\n") }.count
        }
        #expect(lines == 200)
        #expect(bytes > 1000)
        // The statement triggers keep the totals exact.
        #expect(try database.execute("SELECT count, sum FROM rating_totals").int(0, 0) == 200)
        #expect(try database.execute("SELECT sum FROM rating_totals").double(0, 0) == 100 * (1.5 + 2.5))
    }

    @Test func aFailedCopyLeavesNothing() throws {
        let (database, _) = try TestServices.migratedDatabase()
        do {
            try database.copyIn("COPY movies (movie_id, title, genres) FROM STDIN WITH (FORMAT binary)") { writer throws(FunctionError) in
                try writer.beginRow(fields: 3)
                writer.int32(1); writer.text("A"); writer.text("Drama")
                throw FunctionError.invalidInput("stop here")
            }
            Issue.record("copy did not fail")
        } catch {
            #expect(error.message == "stop here")
        }
        #expect(try database.execute("SELECT count(*) FROM movies").int(0, 0) == 0)
        #expect(try database.execute("SELECT 1").int(0, 0) == 1)  // the connection is still usable
    }

    @Test func advisoryLocksAreExclusiveAcrossSessions() throws {
        let url = try TestServices.makeDatabase()
        let first = try Database(url: url), second = try Database(url: url)
        #expect(try first.tryAdvisoryLock(77))
        #expect(try second.tryAdvisoryLock(77) == false)
        try first.advisoryUnlock(77)
        #expect(try second.tryAdvisoryLock(77))
    }
}
