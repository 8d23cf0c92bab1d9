/// Versioned schema changes, applied in order at start-up under an advisory lock so that
/// concurrent cold starts do not race. A migration runs in one transaction: all or nothing.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String
}

public enum Migrations {
    /// Advisory lock keys used across the system (one namespace, documented in one place).
    public enum LockKey {
        public static let migrations: Int64 = 0x4D52_0001
        public static let datasetImport: Int64 = 0x4D52_0002
        public static let training: Int64 = 0x4D52_0003
        /// Writers of many ratings at once (generation, a user's ratings) take this for their
        /// transaction: the counter triggers update movie_stats and user_stats rows in hash
        /// order, so two such statements at once could lock each other's rows (deadlock).
        public static let ratingWrites: Int64 = 0x4D52_0004
        /// Submitters of training runs, one at a time (see TrainingQueue).
        public static let trainingQueue: Int64 = 0x4D52_0005
    }

    public static let all: [Migration] = [
        Migration(version: 1, name: "movielens reference tables", sql: Schema.referenceTables),
        Migration(version: 2, name: "imports and rating totals", sql: Schema.systemTables),
        Migration(version: 3, name: "training runs and model registry", sql: Schema.registryTables),
        Migration(version: 4, name: "movie statistics and recommendation log", sql: Schema.servingTables),
        Migration(version: 5, name: "user statistics and drift baselines", sql: Schema.monitoringTables),
        Migration(version: 6, name: "covering timestamp index for recent windows", sql: Schema.coveringTimestampIndex),
        Migration(version: 7, name: "the MLflow mirror's state per training run", sql: Schema.mlflowMirrorState),
    ]

    /// Applies every migration the database has not seen; returns the versions applied.
    @discardableResult
    public static func apply(to database: Database, migrations: [Migration] = all) throws(FunctionError) -> [Int] {
        // Fast path without the lock: a warm or already-migrated database costs one query.
        let exists = try database.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").bool(0, 0) ?? false
        let current = exists ? try database.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").int(0, 0) ?? 0 : 0
        if migrations.allSatisfy({ $0.version <= current }) { return [] }

        try database.advisoryLock(LockKey.migrations)
        defer { _ = try? database.advisoryUnlock(LockKey.migrations) }
        try database.executeScript("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            try database.transaction { () throws(FunctionError) in
                // Re-read under the lock: another process may have applied it meanwhile.
                let done = try database.execute("SELECT 1 FROM schema_migrations WHERE version = $1", [migration.version]).count > 0
                if done { return }
                try database.executeScript(migration.sql)
                try database.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [migration.version, migration.name])
                applied.append(migration.version)
            }
        }
        if !applied.isEmpty { Log.info("migrations applied", ["versions": .array(applied.map { .number(Double($0)) })]) }
        return applied
    }
}
