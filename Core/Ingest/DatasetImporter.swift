#if canImport(Glibc)
import Glibc
#endif

/// Imports a MovieLens dataset into PostgreSQL, all or nothing.
///
/// Every table is replaced inside one transaction: the tables are truncated, the big ones
/// lose their indexes and constraints, every file is validated row by row in Swift and
/// streamed in with binary COPY (FREEZE, since the tables were truncated in this transaction),
/// and the indexes are built once at the end, which is far cheaper than maintaining them per
/// row. A failure at any point, or a killed process, rolls everything back.
public final class DatasetImporter {
    private let database: Database
    private let policy: ImportRequest.ErrorPolicy
    private var issues: [RowIssue] = []
    private var rejected: [String: Int] = [:]
    private var tables: [String: Int] = [:]
    private var phases: [String: Double] = [:]
    private static let issuesKept = 20

    // What the files say about each other, gathered while loading.
    private var movieIDs = IDSet()
    private var userIDs = IDSet()
    private var genomeTagIDs = IDSet()
    private var ratingCount = 0
    private var halfStarSum = 0
    /// Per movie id: number of ratings and sum of half stars, for movie_stats.
    private var movieCounts: [Int32] = []
    private var rejectedDuplicates = 0
    /// Per user id: number of ratings, for user_stats.
    private var userCounts: [Int32] = []
    private var movieHalfStars: [Int64] = []

    public init(database: Database, policy: ImportRequest.ErrorPolicy = .fail) {
        self.database = database
        self.policy = policy
    }

    // MARK: entry point

    /// - Parameter mirror: where datasets named without a source come from; by default as
    ///   the environment configures it (`MOVIELENS_BASE_URL`, `MOVIELENS_CACHE`).
    public static func run(_ request: ImportRequest, database: Database, storage: (() throws(FunctionError) -> S3Client)?,
                           mirror: MovieLensMirror? = nil) throws(FunctionError) -> ImportResult {
        let started = monotonicSeconds()
        let (source, directory, cleanup) = try DatasetSource.resolve(request, storage: storage, mirror: mirror)
        defer { cleanup() }

        var files: [String: FileFingerprint] = [:]
        for file in DatasetFile.allCases {
            let path = directory + "/" + file.rawValue
            if access(path, R_OK) == 0 {
                let (hash, size) = try ContentHash.file(path)
                files[file.rawValue] = FileFingerprint(size: size, hash: hash)
            } else if file.isRequired {
                throw FunctionError.invalidInput("\(file.rawValue) not found in \(source); a MovieLens dataset needs movies.csv and ratings.csv",
                                                 details: ["source": .string(source), "file": .string(file.rawValue)])
            }
        }
        var combined = ContentHash()
        for (name, print) in files.sorted(by: { $0.key < $1.key }) {
            var line = "\(name):\(print.size):\(print.hash);"
            line.withUTF8 { combined.update(UnsafeRawBufferPointer($0)) }
        }
        let fingerprint = combined.hex
        let filesJSON = JSONValue.object(files.mapValues { .object(["size": .number(Double($0.size)), "hash": .string($0.hash)]) })

        guard try database.tryAdvisoryLock(Migrations.LockKey.datasetImport) else {
            throw FunctionError.conflict("another import is running; try again when it has finished")
        }
        defer { _ = try? database.advisoryUnlock(Migrations.LockKey.datasetImport) }
        // Holding the lock, no other import is alive: a 'running' row is one whose process died.
        try database.execute("""
            UPDATE imports SET status = 'failed', finished_at = now(),
                   error = 'abandoned: the importing process ended before finishing; nothing it loaded was kept'
            WHERE status = 'running'
            """)

        let last = try database.execute("SELECT import_id, fingerprint FROM imports WHERE status = 'succeeded' ORDER BY import_id DESC LIMIT 1")
        if request.force != true, last.count == 1, last.string(0, 1) == fingerprint {
            let previous = last.int(0, 0) ?? 0
            let row = try database.execute("""
                INSERT INTO imports (source, dataset, status, fingerprint, files, finished_at, duration_seconds)
                VALUES ($1, $2, 'unchanged', $3, $4::jsonb, now(), $5) RETURNING import_id
                """, [source, request.dataset, fingerprint, filesJSON, monotonicSeconds() - started])
            return ImportResult(importId: row.int(0, 0) ?? 0, status: "unchanged",
                                message: "these files were already imported by import \(previous); nothing changed (pass force: true to import again)",
                                source: source, dataset: request.dataset, fingerprint: fingerprint, files: files,
                                tables: [:], rejected: [:], firstErrors: [], durationSeconds: monotonicSeconds() - started, phaseSeconds: [:])
        }

        let importId = try database.execute("""
            INSERT INTO imports (source, dataset, status, fingerprint, files) VALUES ($1, $2, 'running', $3, $4::jsonb) RETURNING import_id
            """, [source, request.dataset, fingerprint, filesJSON]).int(0, 0) ?? 0
        Log.info("import started", ["import_id": .number(Double(importId)), "source": .string(source)])

        let importer = DatasetImporter(database: database, policy: request.onError ?? .fail)
        do {
            try database.transaction { () throws(FunctionError) in
                try importer.load(directory: directory, present: Set(files.keys))
                try database.execute("""
                    UPDATE imports SET status = 'succeeded', row_counts = $2::jsonb, rejected = $3::jsonb,
                           finished_at = now(), duration_seconds = $4 WHERE import_id = $1
                    """, [importId, JSONValue.object(importer.tables.mapValues { .number(Double($0)) }),
                          JSONValue.object(importer.rejected.mapValues { .number(Double($0)) }), monotonicSeconds() - started])
            }
        } catch {
            _ = try? database.execute("""
                UPDATE imports SET status = 'failed', error = $2, finished_at = now(), duration_seconds = $3 WHERE import_id = $1
                """, [importId, error.message, monotonicSeconds() - started])
            var failure = error
            failure.details["import_id"] = .number(Double(importId))
            failure.details["database_changed"] = .bool(false)
            throw failure
        }
        let duration = monotonicSeconds() - started
        Log.info("import finished", ["import_id": .number(Double(importId)), "seconds": .number(duration)])
        let rejectedTotal = importer.rejected.values.reduce(0, +)
        return ImportResult(importId: importId, status: "succeeded",
                            message: rejectedTotal == 0 ? "imported" : "imported; \(rejectedTotal) bad rows were skipped",
                            source: source, dataset: request.dataset, fingerprint: fingerprint, files: files,
                            tables: importer.tables, rejected: importer.rejected, firstErrors: importer.issues,
                            durationSeconds: duration, phaseSeconds: importer.phases)
    }

    // MARK: loading (inside the caller's transaction)

    func load(directory: String, present: Set<String>) throws(FunctionError) {
        // Keys, indexes and foreign keys are built after the load, not row by row during it:
        // the loader checks every reference itself. The rating-scale check goes too, as the
        // parser holds every row to the same rule and the server evaluating it again cost a
        // third of the load. Constraints come back NOT VALID, which holds every later write to
        // them. (The server's maintenance_work_mem is kept: a larger one made the index builds
        // slower here, one big in-memory sort against the parallel workers' smaller ones.)
        try database.executeScript("""
            SET LOCAL synchronous_commit = off;
            TRUNCATE ratings, tags, movie_tags, movie_genres, links, genres, movies, users, genome_scores, genome_tags, movie_stats, user_stats RESTART IDENTITY;
            ALTER TABLE ratings DROP CONSTRAINT ratings_pkey, DROP CONSTRAINT ratings_movie_fk, DROP CONSTRAINT ratings_user_fk,
                                DROP CONSTRAINT ratings_rating_scale;
            DROP INDEX ratings_movie_idx, ratings_timestamp_idx;
            ALTER TABLE ratings DISABLE TRIGGER USER;
            ALTER TABLE tags DROP CONSTRAINT tags_movie_id_fkey;
            DROP INDEX tags_movie_idx;
            ALTER TABLE movie_tags DROP CONSTRAINT movie_tags_pkey, DROP CONSTRAINT movie_tags_movie_id_fkey;
            ALTER TABLE movie_genres DROP CONSTRAINT movie_genres_movie_id_fkey, DROP CONSTRAINT movie_genres_genre_id_fkey;
            ALTER TABLE genome_scores DROP CONSTRAINT genome_scores_pkey;
            """)
        try loadMovies(directory + "/movies.csv")
        try loadRatings(directory + "/ratings.csv")
        if present.contains(DatasetFile.tags.rawValue) { try loadTags(directory + "/tags.csv") }
        if present.contains(DatasetFile.links.rawValue) { try loadLinks(directory + "/links.csv") }
        if present.contains(DatasetFile.genomeTags.rawValue) { try loadGenomeTags(directory + "/genome-tags.csv") }
        if present.contains(DatasetFile.genomeScores.rawValue) {
            guard present.contains(DatasetFile.genomeTags.rawValue) else {
                throw FunctionError.unprocessable("genome-scores.csv needs genome-tags.csv beside it")
            }
            try loadGenomeScores(directory + "/genome-scores.csv")
        }
        tables["users"] = try database.copyIn("COPY users (user_id) FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            try userIDs.forEach { id throws(FunctionError) in
                try writer.beginRow(fields: 1)
                writer.int32(id)
            }
        }
        try buildIndexes()
    }

    private func buildIndexes() throws(FunctionError) {
        let started = monotonicSeconds()
        try database.execute("SAVEPOINT ratings_keys")
        do {
            try database.execute("ALTER TABLE ratings ADD CONSTRAINT ratings_pkey PRIMARY KEY (user_id, movie_id)")
        } catch {
            // Duplicates the streaming check cannot see (a file not grouped by user) surface here.
            guard error.details["sqlstate"] == .string("23505") else { throw error }
            try database.execute("ROLLBACK TO SAVEPOINT ratings_keys")
            guard policy == .skip else {
                // Named from our own query: PostgreSQL's message stays in the log.
                let pair = try database.execute("SELECT user_id, movie_id FROM ratings GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 1")
                let detail = pair.count == 0 ? "a (userId, movieId) pair appears twice"
                    : "(user_id, movie_id)=(\(pair.int(0, 0) ?? 0), \(pair.int(0, 1) ?? 0)) appears twice"
                throw FunctionError.unprocessable("ratings.csv rates the same movie twice for one user: \(detail)",
                                                  details: ["file": .string("ratings.csv"), "reason": .string("duplicate (userId, movieId)")])
            }
            let removed = try database.execute("""
                DELETE FROM ratings r USING (
                    SELECT ctid, row_number() OVER (PARTITION BY user_id, movie_id ORDER BY "timestamp" DESC) AS n FROM ratings
                ) d WHERE r.ctid = d.ctid AND d.n > 1 RETURNING r.rating
                """)
            for index in 0..<removed.count { halfStarSum -= Int((removed.double(index, 0) ?? 0) * 2) }
            ratingCount -= removed.count
            rejectedDuplicates = removed.count
            tables["ratings"] = ratingCount
            rejected["ratings.csv", default: 0] += removed.count
            try database.execute("ALTER TABLE ratings ADD CONSTRAINT ratings_pkey PRIMARY KEY (user_id, movie_id)")
        }
        try database.executeScript("""
            CREATE INDEX ratings_movie_idx ON ratings (movie_id);
            \(Schema.ratingsTimestampIndex);
            ALTER TABLE ratings ADD CONSTRAINT ratings_movie_fk FOREIGN KEY (movie_id) REFERENCES movies NOT VALID,
                                ADD CONSTRAINT ratings_user_fk FOREIGN KEY (user_id) REFERENCES users NOT VALID,
                                ADD CONSTRAINT ratings_rating_scale \(Schema.ratingScaleCheck) NOT VALID;
            ALTER TABLE ratings ENABLE TRIGGER USER;
            CREATE INDEX tags_movie_idx ON tags (movie_id);
            ALTER TABLE tags ADD CONSTRAINT tags_movie_id_fkey FOREIGN KEY (movie_id) REFERENCES movies NOT VALID;
            ALTER TABLE movie_tags ADD CONSTRAINT movie_tags_pkey PRIMARY KEY (movie_id, tag),
                                   ADD CONSTRAINT movie_tags_movie_id_fkey FOREIGN KEY (movie_id) REFERENCES movies NOT VALID;
            ALTER TABLE movie_genres ADD CONSTRAINT movie_genres_movie_id_fkey FOREIGN KEY (movie_id) REFERENCES movies ON DELETE CASCADE NOT VALID,
                                     ADD CONSTRAINT movie_genres_genre_id_fkey FOREIGN KEY (genre_id) REFERENCES genres NOT VALID;
            """)
        do {
            try database.execute("ALTER TABLE genome_scores ADD CONSTRAINT genome_scores_pkey PRIMARY KEY (movie_id, tag_id)")
        } catch {
            throw FunctionError.unprocessable("genome-scores.csv has the same (movieId, tagId) twice: \(error.details["detail"]?.stringValue ?? error.message)")
        }
        try database.execute("UPDATE rating_totals SET count = $1, sum = $2", [ratingCount, Double(halfStarSum) / 2])
        if rejectedDuplicates > 0 {
            // Rows removed by the duplicate clean-up are not in the per-movie sums: count from the table.
            try database.execute("INSERT INTO movie_stats SELECT movie_id, count(*), sum(rating) FROM ratings GROUP BY movie_id")
            try database.execute("INSERT INTO user_stats SELECT user_id, count(*) FROM ratings GROUP BY user_id")
        } else {
            let users = userCounts
            try database.copyIn("COPY user_stats (user_id, count) FROM STDIN WITH (FORMAT binary)") { writer throws(FunctionError) in
                for user in users.indices where users[user] > 0 {
                    try writer.beginRow(fields: 2)
                    writer.int32(Int32(user)); writer.int64(Int64(users[user]))
                }
            }
            let counts = movieCounts, sums = movieHalfStars
            try database.copyIn("COPY movie_stats (movie_id, count, sum) FROM STDIN WITH (FORMAT binary)") { writer throws(FunctionError) in
                for movie in counts.indices where counts[movie] > 0 {
                    try writer.beginRow(fields: 3)
                    writer.int32(Int32(movie)); writer.int64(Int64(counts[movie])); writer.float64(Double(sums[movie]) / 2)
                }
            }
        }
        try database.executeScript("ANALYZE movies, ratings, users, tags, links, movie_genres, genome_scores")
        phases["indexes"] = monotonicSeconds() - started
        Log.info("indexes built", ["seconds": .number(monotonicSeconds() - started)])
    }

    // MARK: files

    private func loadMovies(_ path: String) throws(FunctionError) {
        var genreNames: [String: Int16] = [:]
        var movieGenres: [(Int32, [String])] = []
        let file = DatasetFile.movies
        tables["movies"] = try database.copyIn("COPY movies (movie_id, title, year, genres) FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            try forEachRecord(file, path: path) { reader, line throws(FunctionError) -> RowIssue? in
                guard let id = FieldParser.int32(reader.bytes(0)), id > 0, id < IDSet.maximumID else {
                    return issue(file, line, "movieId", reader, 0, "must be a positive integer")
                }
                guard let rawTitle = reader.string(1) else { return issue(file, line, "title", nil, "is not valid UTF-8") }
                let title = rawTitle.trimmed
                guard !title.isEmpty else { return issue(file, line, "title", nil, "is empty") }
                guard let genres = reader.string(2) else { return issue(file, line, "genres", nil, "is not valid UTF-8") }
                guard movieIDs.insert(id) else { return issue(file, line, "movieId", "\(id)", "appears twice in movies.csv") }
                let names = genres == "(no genres listed)" || genres.isEmpty ? [] : genres.split(separator: "|").map { String($0) }
                for name in names where genreNames[name] == nil { genreNames[name] = 0 }
                movieGenres.append((id, names))
                try writer.beginRow(fields: 4)
                writer.int32(id)
                writer.text(title)
                if let year = Self.releaseYear(title) { writer.int16(year) } else { writer.null() }
                writer.text(genres)
                return nil
            }
        }
        // Genre ids in name order: stable across imports of the same data.
        for (index, name) in genreNames.keys.sorted().enumerated() { genreNames[name] = Int16(index + 1) }
        tables["genres"] = try database.copyIn("COPY genres (genre_id, name) FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            for (name, id) in genreNames.sorted(by: { $0.value < $1.value }) {
                try writer.beginRow(fields: 2)
                writer.int16(id)
                writer.text(name)
            }
        }
        tables["movie_genres"] = try database.copyIn("COPY movie_genres (movie_id, genre_id) FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            for (movie, names) in movieGenres {
                for id in Set(names.compactMap { genreNames[$0] }).sorted() {
                    try writer.beginRow(fields: 2)
                    writer.int32(movie)
                    writer.int16(id)
                }
            }
        }
    }

    private func loadRatings(_ path: String) throws(FunctionError) {
        let file = DatasetFile.ratings
        // Duplicate (user, movie) pairs are caught while streaming when the file is grouped by
        // user, as MovieLens files are: only the current user's movies are remembered.
        var currentUser: Int32 = -1
        var currentMovies = IDSet()
        var currentList: [Int32] = []
        var grouped = true
        var seenUsers = IDSet()
        tables["ratings"] = try database.copyIn("COPY ratings (user_id, movie_id, rating, \"timestamp\") FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            try forEachRecord(file, path: path) { reader, line throws(FunctionError) -> RowIssue? in
                guard let user = FieldParser.int32(reader.bytes(0)), user > 0, user < IDSet.maximumID else {
                    return issue(file, line, "userId", reader, 0, "must be a positive integer")
                }
                guard let movie = FieldParser.int32(reader.bytes(1)), movie > 0, movie < IDSet.maximumID else {
                    return issue(file, line, "movieId", reader, 1, "must be a positive integer")
                }
                guard let halves = FieldParser.halfStars(reader.bytes(2)) else {
                    return issue(file, line, "rating", reader, 2, "must be a number on the half-star grid (0.5, 1.0, ... 5.0)")
                }
                guard halves >= 1 && halves <= 10 else {
                    return issue(file, line, "rating", reader, 2, "is outside the rating scale 0.5..5")
                }
                guard let timestamp = FieldParser.int64(reader.bytes(3)), timestamp >= 0 else {
                    return issue(file, line, "timestamp", reader, 3, "must be epoch seconds (a non-negative integer)")
                }
                guard movieIDs.contains(movie) else {
                    return issue(file, line, "movieId", "\(movie)", "movie is not in movies.csv")
                }
                if user != currentUser {
                    for id in currentList { currentMovies.remove(id) }
                    currentList.removeAll(keepingCapacity: true)
                    if !seenUsers.insert(user) { grouped = false }
                    currentUser = user
                }
                if grouped {
                    guard currentMovies.insert(movie) else {
                        return issue(file, line, "movieId", "\(movie)", "user \(user) already rated this movie earlier in the file")
                    }
                    currentList.append(movie)
                }
                userIDs.insert(user)
                ratingCount += 1
                halfStarSum += halves
                if Int(movie) >= movieCounts.count {
                    let size = max(Int(movie) + 1, movieCounts.count * 2)
                    movieCounts += [Int32](repeating: 0, count: size - movieCounts.count)
                    movieHalfStars += [Int64](repeating: 0, count: size - movieHalfStars.count)
                }
                movieCounts[Int(movie)] += 1
                if Int(user) >= userCounts.count { userCounts += [Int32](repeating: 0, count: max(Int(user) + 1, userCounts.count * 2) - userCounts.count) }
                userCounts[Int(user)] += 1
                movieHalfStars[Int(movie)] += Int64(halves)
                try writer.beginRow(fields: 4)
                writer.int32(user)
                writer.int32(movie)
                writer.float32(Float(halves) * 0.5)
                writer.int64(timestamp)
                return nil
            }
        }
        tables["ratings"] = ratingCount
    }

    private func loadTags(_ path: String) throws(FunctionError) {
        let file = DatasetFile.tags
        tables["tags"] = try database.copyIn("COPY tags (user_id, movie_id, tag, \"timestamp\") FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            try forEachRecord(file, path: path) { reader, line throws(FunctionError) -> RowIssue? in
                guard let user = FieldParser.int32(reader.bytes(0)), user > 0, user < IDSet.maximumID else {
                    return issue(file, line, "userId", reader, 0, "must be a positive integer")
                }
                guard let movie = FieldParser.int32(reader.bytes(1)), movie > 0 else {
                    return issue(file, line, "movieId", reader, 1, "must be a positive integer")
                }
                guard let tag = reader.string(2) else { return issue(file, line, "tag", nil, "is not valid UTF-8") }
                guard let timestamp = FieldParser.int64(reader.bytes(3)), timestamp >= 0 else {
                    return issue(file, line, "timestamp", reader, 3, "must be epoch seconds (a non-negative integer)")
                }
                guard movieIDs.contains(movie) else { return issue(file, line, "movieId", "\(movie)", "movie is not in movies.csv") }
                userIDs.insert(user)
                try writer.beginRow(fields: 4)
                writer.int32(user)
                writer.int32(movie)
                writer.text(tag)
                writer.int64(timestamp)
                return nil
            }
        }
        tables["movie_tags"] = try database.execute("""
            INSERT INTO movie_tags (movie_id, tag, tag_count) SELECT movie_id, tag, count(*) FROM tags GROUP BY movie_id, tag
            """).affectedRows
    }

    private func loadLinks(_ path: String) throws(FunctionError) {
        let file = DatasetFile.links
        var linked = IDSet()
        tables["links"] = try database.copyIn("COPY links (movie_id, imdb_id, tmdb_id) FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            try forEachRecord(file, path: path) { reader, line throws(FunctionError) -> RowIssue? in
                guard let movie = FieldParser.int32(reader.bytes(0)), movie > 0 else {
                    return issue(file, line, "movieId", reader, 0, "must be a positive integer")
                }
                let imdb = reader.bytes(1)
                guard imdb.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    return issue(file, line, "imdbId", reader, 1, "must be digits")
                }
                let tmdbBytes = reader.bytes(2)
                let tmdb = FieldParser.int32(tmdbBytes)
                guard tmdbBytes.isEmpty || tmdb != nil else { return issue(file, line, "tmdbId", reader, 2, "must be an integer or empty") }
                guard movieIDs.contains(movie) else { return issue(file, line, "movieId", "\(movie)", "movie is not in movies.csv") }
                guard linked.insert(movie) else { return issue(file, line, "movieId", "\(movie)", "appears twice in links.csv") }
                try writer.beginRow(fields: 3)
                writer.int32(movie)
                if imdb.isEmpty { writer.null() } else { writer.text(imdb) }
                if let tmdb { writer.int32(tmdb) } else { writer.null() }
                return nil
            }
        }
    }

    private func loadGenomeTags(_ path: String) throws(FunctionError) {
        let file = DatasetFile.genomeTags
        tables["genome_tags"] = try database.copyIn("COPY genome_tags (tag_id, tag) FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            try forEachRecord(file, path: path) { reader, line throws(FunctionError) -> RowIssue? in
                guard let id = FieldParser.int32(reader.bytes(0)), id > 0, id < IDSet.maximumID else {
                    return issue(file, line, "tagId", reader, 0, "must be a positive integer")
                }
                guard let tag = reader.string(1) else { return issue(file, line, "tag", nil, "is not valid UTF-8") }
                guard genomeTagIDs.insert(id) else { return issue(file, line, "tagId", "\(id)", "appears twice in genome-tags.csv") }
                try writer.beginRow(fields: 2)
                writer.int32(id)
                writer.text(tag)
                return nil
            }
        }
    }

    private func loadGenomeScores(_ path: String) throws(FunctionError) {
        let file = DatasetFile.genomeScores
        tables["genome_scores"] = try database.copyIn("COPY genome_scores (movie_id, tag_id, relevance) FROM STDIN WITH (FORMAT binary, FREEZE)") { writer throws(FunctionError) in
            try forEachRecord(file, path: path) { reader, line throws(FunctionError) -> RowIssue? in
                guard let movie = FieldParser.int32(reader.bytes(0)), movie > 0 else {
                    return issue(file, line, "movieId", reader, 0, "must be a positive integer")
                }
                guard let tag = FieldParser.int32(reader.bytes(1)), tag > 0 else {
                    return issue(file, line, "tagId", reader, 1, "must be a positive integer")
                }
                guard let relevance = FieldParser.double(reader.bytes(2)), relevance >= 0, relevance <= 1 else {
                    return issue(file, line, "relevance", reader, 2, "must be a number between 0 and 1")
                }
                guard movieIDs.contains(movie) else { return issue(file, line, "movieId", "\(movie)", "movie is not in movies.csv") }
                guard genomeTagIDs.contains(tag) else { return issue(file, line, "tagId", "\(tag)", "tag is not in genome-tags.csv") }
                try writer.beginRow(fields: 3)
                writer.int32(movie)
                writer.int32(tag)
                writer.float32(Float(relevance))
                return nil
            }
        }
    }

    // MARK: the record loop shared by every file

    /// Reads `path` record by record after checking its header; `body` loads a row or says what is wrong with it.
    private func forEachRecord(_ file: DatasetFile, path: String,
                               _ body: (borrowing CSVReader, Int) throws(FunctionError) -> RowIssue?) throws(FunctionError) {
        var reader = try CSVReader(path: path)
        let columns = file.header.count
        let started = monotonicSeconds()
        var lastReport = started
        var rows = 0
        do {
            guard try reader.next() else {
                throw FunctionError.unprocessable("\(file.rawValue) is empty; expected the header \(file.header.joined(separator: ","))",
                                                  details: ["file": .string(file.rawValue), "line": .number(1)])
            }
            var header = (0..<reader.fields.count).map { reader.string($0) ?? "" }
            if let first = header.first, first.hasPrefix("\u{FEFF}") { header[0] = String(first.dropFirst()) }
            guard header == file.header else {
                throw FunctionError.unprocessable(
                    "\(file.rawValue) line 1: the header is '\(header.joined(separator: ","))'; expected '\(file.header.joined(separator: ","))'",
                    details: ["file": .string(file.rawValue), "line": .number(1), "expected": .string(file.header.joined(separator: ","))])
            }
            while try reader.next() {
                let line = reader.line
                if reader.fields.count == 1 && reader.bytes(0).isEmpty && !reader.fields[0].quoted { continue }  // blank line
                var problem: RowIssue?
                if reader.fields.count != columns {
                    let truncated = reader.lastRecordUnterminated && reader.fields.count < columns
                    problem = RowIssue(file: file.rawValue, line: line, column: nil, value: nil,
                                       reason: truncated ? "the last line is cut off (\(reader.fields.count) of \(columns) columns, no line end): the file looks truncated"
                                                         : "has \(reader.fields.count) columns; expected \(columns) (\(file.header.joined(separator: ",")))")
                } else {
                    problem = try body(reader, line)
                }
                if let problem { try reject(problem) } else { rows += 1 }
                if rows & 0x3FFFF == 0 {
                    let now = monotonicSeconds()
                    if now - lastReport >= 2 {
                        lastReport = now
                        Log.info("progress", ["file": .string(file.rawValue), "rows": .number(Double(rows)),
                                              "rows_per_s": .number((Double(rows) / (now - started)).rounded())])
                    }
                }
            }
        } catch let syntax as CSVReader.SyntaxError {
            try reject(RowIssue(file: file.rawValue, line: syntax.line, column: nil, value: nil, reason: syntax.reason), fatal: true)
        } catch {
            throw FunctionError.wrap(error)
        }
        let seconds = monotonicSeconds() - started
        phases[file.rawValue] = seconds
        Log.info("file loaded", ["file": .string(file.rawValue), "rows": .number(Double(rows)), "seconds": .number(seconds),
                                 "rows_per_s": .number((Double(rows) / max(seconds, 1e-9)).rounded())])
    }

    private func reject(_ problem: RowIssue, fatal: Bool = false) throws(FunctionError) {
        if policy == .fail || fatal {
            var details: [String: JSONValue] = ["file": .string(problem.file), "line": .number(Double(problem.line)), "reason": .string(problem.reason)]
            if let column = problem.column { details["column"] = .string(column) }
            if let value = problem.value { details["value"] = .string(value) }
            throw FunctionError.unprocessable(problem.message + "; nothing was imported", details: details)
        }
        rejected[problem.file, default: 0] += 1
        if issues.count < Self.issuesKept { issues.append(problem) }
    }

    private func issue(_ file: DatasetFile, _ line: Int, _ column: String, _ reader: borrowing CSVReader, _ index: Int, _ reason: String) -> RowIssue {
        let value = String(decoding: reader.bytes(index), as: UTF8.self)
        return RowIssue(file: file.rawValue, line: line, column: column, value: value, reason: reason)
    }

    private func issue(_ file: DatasetFile, _ line: Int, _ column: String, _ value: String?, _ reason: String) -> RowIssue {
        RowIssue(file: file.rawValue, line: line, column: column, value: value, reason: reason)
    }

    /// "Toy Story (1995)" -> 1995; "Fawlty Towers (1975-1979)" -> 1975; nil without a year.
    static func releaseYear(_ title: String) -> Int16? {
        guard title.hasSuffix(")"), let open = title.lastIndex(of: "(") else { return nil }
        let inside = title[title.index(after: open)..<title.index(before: title.endIndex)]
        let digits = inside.prefix(4)
        guard digits.count == 4, digits.allSatisfy(\.isASCII), let year = Int16(digits), year > 1800, year < 2200 else { return nil }
        let rest = inside.dropFirst(4)
        guard rest.isEmpty || rest.first == "-" || rest.first == "–" else { return nil }
        return year
    }
}
