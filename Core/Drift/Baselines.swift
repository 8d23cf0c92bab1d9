/// The reference window, stored as its feature distributions (value counts), in PostgreSQL
/// with a copy in the artifact store.
public struct Baseline: Codable, Sendable {
    public var baselineId: Int
    public var createdAt: String?
    public var window: WindowSpec
    public var rows: Int
    public var features: [FeatureDistribution]
    public var artifact: String?
    /// The frozen popularity and activity the features of every later window are measured with.
    public var lookups: FeatureLookups?

    enum CodingKeys: String, CodingKey {
        case window, rows, features, artifact
        case baselineId = "baseline_id", createdAt = "created_at"
    }
}

public enum Baselines {
    public static func create(_ window: WindowSpec, database: Database, store: ArtifactStore?) throws(FunctionError) -> Baseline {
        let lookups = try FeatureLookups.current(database)
        let (rows, features) = try FeatureExtractor.distributions(window, lookups: lookups, database: database)
        guard rows > 0 else {
            throw FunctionError.conflict("the reference window holds no ratings; import data first or choose another window")
        }
        let windowJSON = try jsonValue(window), featuresJSON = try jsonValue(features)
        let (popularity, activity) = lookups.encoded
        let id = try database.execute("""
            INSERT INTO drift_baselines (window_spec, rows, features, movie_popularity, user_activity)
            VALUES ($1::jsonb, $2, $3::jsonb, $4::bytea, $5::bytea) RETURNING baseline_id
            """, [windowJSON, rows, featuresJSON, popularity, activity]).int(0, 0) ?? 0
        var baseline = Baseline(baselineId: id, createdAt: nil, window: window, rows: rows, features: features, artifact: nil, lookups: lookups)
        if let store {
            let key = "baselines/drift/baseline-\(id).json"
            do { try store.put(try JSON.encode(baseline, pretty: true), key: key, contentType: "application/json") } catch {
                throw FunctionError.wrap(error)
            }
            try database.execute("UPDATE drift_baselines SET artifact_key = $2 WHERE baseline_id = $1", [id, key])
            baseline.artifact = store.url(key)
        }
        return try latest(database: database) ?? baseline
    }

    public static func latest(database: Database) throws(FunctionError) -> Baseline? {
        let rows = try database.execute("""
            SELECT baseline_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), window_spec, rows, features, artifact_key,
                   movie_popularity, user_activity
            FROM drift_baselines ORDER BY baseline_id DESC LIMIT 1
            """)
        guard rows.count == 1, let windowText = rows.string(0, 2), let featuresText = rows.string(0, 4) else { return nil }
        do {
            return Baseline(baselineId: rows.int(0, 0) ?? 0, createdAt: rows.string(0, 1),
                            window: try JSONDecoder().decode(WindowSpec.self, from: Data(windowText.utf8)), rows: rows.int(0, 3) ?? 0,
                            features: try JSONDecoder().decode([FeatureDistribution].self, from: Data(featuresText.utf8)),
                            artifact: rows.string(0, 5),
                            lookups: FeatureLookups(popularity: IDCounts.decode(rows.string(0, 6)), activity: IDCounts.decode(rows.string(0, 7))))
        } catch {
            throw FunctionError.internal("stored baseline \(rows.int(0, 0) ?? 0) is unreadable: \(error)")
        }
    }
}
