/// A training run as status and history report it.
public struct TrainingRun: Codable, Sendable {
    public var runId: String
    public var status: String
    public var stage: String
    public var progress: Double
    public var etaSeconds: Double?
    public var parameters: JSONValue?
    public var data: JSONValue?
    public var candidates: JSONValue?
    public var best: String?
    public var decision: JSONValue?
    public var modelVersion: Int?
    public var error: String?
    public var createdAt: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var durationSeconds: Double?
    /// What the MLflow mirror holds of this run: `mirrored` with MLflow's ids and the run's
    /// page, or `failed` with the reason; absent before any tracking server was configured.
    public var mlflow: JSONValue?

    enum CodingKeys: String, CodingKey {
        case status, stage, progress, parameters, data, candidates, best, decision, error, mlflow
        case runId = "run_id", etaSeconds = "eta_seconds", modelVersion = "model_version", createdAt = "created_at"
        case startedAt = "started_at", finishedAt = "finished_at", durationSeconds = "duration_seconds"
    }
}

public struct ModelVersion: Codable, Sendable {
    public var name: String
    public var version: Int
    public var algorithm: String
    public var variant: String?
    public var runId: String?
    public var metrics: JSONValue?
    public var parameters: JSONValue?
    public var data: JSONValue?
    public var artifact: String
    public var artifactKey: String
    public var artifactSize: Int
    public var artifactChecksum: String
    public var createdAt: String?
    public var aliases: [String]

    enum CodingKeys: String, CodingKey {
        case name, version, algorithm, variant, metrics, parameters, data, artifact, aliases
        case runId = "run_id", artifactKey = "artifact_key", artifactSize = "artifact_size"
        case artifactChecksum = "artifact_checksum", createdAt = "created_at"
    }
}

public struct ModelList: Codable, Sendable {
    public var name: String
    public var champion: ModelVersion?
    public var versions: [ModelVersion]
}

/// Runs and model versions in PostgreSQL; the artifacts themselves live in S3.
public struct Registry {
    public static let modelName = "Best_Film_Recommender"
    public static let championAlias = "champion"
    let database: Database

    public init(database: Database) { self.database = database }

    static let runColumns = """
        run_id, status, stage, progress, eta_seconds, parameters, data, candidates, best, decision, model_version, error,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), duration_seconds, mlflow
        """

    static func run(_ row: ResultSet.Row) -> TrainingRun {
        TrainingRun(runId: row.string(0) ?? "", status: row.string(1) ?? "", stage: row.string(2) ?? "", progress: row.double(3) ?? 0,
                    etaSeconds: row.double(4), parameters: row.json(5), data: row.json(6), candidates: row.json(7), best: row.string(8),
                    decision: row.json(9), modelVersion: row.int(10), error: row.string(11), createdAt: row.string(12),
                    startedAt: row.string(13), finishedAt: row.string(14), durationSeconds: row.double(15), mlflow: row.json(16))
    }

    /// The run with this id, or the latest when id is nil.
    public func run(id: String?) throws(FunctionError) -> TrainingRun? {
        let rows = id == nil
            ? try database.execute("SELECT \(Self.runColumns) FROM training_runs ORDER BY created_at DESC LIMIT 1")
            : try database.execute("SELECT \(Self.runColumns) FROM training_runs WHERE run_id = $1", [id])
        return try rows.map { row throws(FunctionError) in Self.run(row) }.first
    }

    public func runs(limit: Int) throws(FunctionError) -> [TrainingRun] {
        try database.execute("SELECT \(Self.runColumns) FROM training_runs ORDER BY created_at DESC LIMIT $1", [limit])
            .map { row throws(FunctionError) in Self.run(row) }
    }

    static let versionColumns = """
        v.name, v.version, v.algorithm, v.variant, v.run_id, v.metrics, v.parameters, v.data, v.artifact_bucket, v.artifact_key,
        v.artifact_size, v.artifact_checksum, to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        coalesce((SELECT array_to_string(array_agg(a.alias ORDER BY a.alias), ',') FROM model_aliases a WHERE a.name = v.name AND a.version = v.version), '')
        """

    static func version(_ row: ResultSet.Row) -> ModelVersion {
        let bucket = row.string(8) ?? "", key = row.string(9) ?? ""
        return ModelVersion(name: row.string(0) ?? "", version: row.int(1) ?? 0, algorithm: row.string(2) ?? "", variant: row.string(3),
                            runId: row.string(4), metrics: row.json(5), parameters: row.json(6), data: row.json(7),
                            artifact: "s3://\(bucket)/\(key)", artifactKey: key, artifactSize: row.int(10) ?? 0,
                            artifactChecksum: row.string(11) ?? "", createdAt: row.string(12),
                            aliases: (row.string(13) ?? "").split(separator: ",").map(String.init))
    }

    public func champion(name: String = modelName) throws(FunctionError) -> ModelVersion? {
        try database.execute("""
            SELECT \(Self.versionColumns) FROM model_aliases c JOIN model_versions v ON v.name = c.name AND v.version = c.version
            WHERE c.name = $1 AND c.alias = $2
            """, [name, Self.championAlias]).map { row throws(FunctionError) in Self.version(row) }.first
    }

    public func models(name: String = modelName) throws(FunctionError) -> ModelList {
        let versions = try database.execute("SELECT \(Self.versionColumns) FROM model_versions v WHERE v.name = $1 ORDER BY v.version DESC", [name])
            .map { row throws(FunctionError) in Self.version(row) }
        return ModelList(name: name, champion: try champion(name: name), versions: versions)
    }

    public func nextVersion() throws(FunctionError) -> Int {
        try database.execute("SELECT nextval('model_version_numbers')").int(0, 0) ?? 1
    }

    /// Records a version whose artifacts are already in S3 and, when `promote`, points the
    /// champion at it, in one transaction: readers see the old champion or the new, never half.
    public func register(_ version: ModelVersion, bucket: String, promote: Bool) throws(FunctionError) {
        try database.transaction { () throws(FunctionError) in
            try database.execute("""
                INSERT INTO model_versions (name, version, algorithm, variant, run_id, metrics, parameters, data,
                                            artifact_bucket, artifact_key, artifact_size, artifact_checksum)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10, $11, $12)
                """, [version.name, version.version, version.algorithm, version.variant, version.runId, version.metrics ?? .null,
                      version.parameters ?? .null, version.data ?? .null, bucket, version.artifactKey, version.artifactSize, version.artifactChecksum])
            if promote {
                try database.execute("""
                    INSERT INTO model_aliases (name, alias, version) VALUES ($1, $2, $3)
                    ON CONFLICT (name, alias) DO UPDATE SET version = EXCLUDED.version, updated_at = now()
                    """, [version.name, Self.championAlias, version.version])
            }
        }
    }
}
