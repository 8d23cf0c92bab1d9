/// `POST /ingest` / `{"action": "import", ...}`.
public struct ImportRequest: Codable, Sendable, StrictRequest {
    /// A local directory or `s3://bucket/prefix/` holding the MovieLens CSV files. Without it,
    /// `dataset` names a GroupLens dataset to download (see `MovieLensDataset`).
    public var source: String?
    /// With `source`, a label for the dataset ("ml-20m", "ml-latest-small", ...). Alone, the
    /// name of the MovieLens dataset to download and import.
    public var dataset: String?
    /// "fail" (default): the first bad row stops the import and nothing changes.
    /// "skip": bad rows are left out, counted, and the first of them reported.
    public var onError: ErrorPolicy?
    /// Re-import even when the same files were the last successful import.
    public var force: Bool?

    public enum ErrorPolicy: String, Codable, Sendable { case fail, skip }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case source, dataset, force
        case onError = "on_error"
    }
    public static let accepted = AcceptedKeys(CodingKeys.self)

    public init(source: String?, dataset: String? = nil, onError: ErrorPolicy? = nil, force: Bool? = nil) {
        self.source = source; self.dataset = dataset; self.onError = onError; self.force = force
    }
}

/// One bad row: where it is and what is wrong with it.
public struct RowIssue: Codable, Sendable, Error {
    public var file: String
    public var line: Int
    public var column: String?
    public var value: String?
    public var reason: String

    public var message: String {
        var text = "\(file) line \(line)"
        if let column { text += ", column \(column)" }
        if let value { text += ", value '\(value.prefix(80))'" }
        return text + ": \(reason)"
    }
}

public struct ImportResult: Codable, Sendable {
    public var importId: Int
    /// "succeeded", or "unchanged" when these exact files were already the last import.
    public var status: String
    public var message: String
    public var source: String
    public var dataset: String?
    public var fingerprint: String
    public var files: [String: FileFingerprint]
    public var tables: [String: Int]
    public var rejected: [String: Int]
    public var firstErrors: [RowIssue]
    public var durationSeconds: Double
    /// Seconds per phase: each file's validation and COPY, then "indexes".
    public var phaseSeconds: [String: Double]

    enum CodingKeys: String, CodingKey {
        case status, message, source, dataset, fingerprint, files, tables, rejected
        case phaseSeconds = "phase_seconds"
        case importId = "import_id"
        case firstErrors = "first_errors"
        case durationSeconds = "duration_seconds"
    }
}

public struct FileFingerprint: Codable, Sendable, Equatable {
    public var size: Int64
    public var hash: String
}

/// The files of a MovieLens dataset in the CSV layout shared by ml-latest-small, ml-20m, ml-25m, ml-32m.
enum DatasetFile: String, CaseIterable, Sendable {
    case movies = "movies.csv"
    case ratings = "ratings.csv"
    case tags = "tags.csv"
    case links = "links.csv"
    case genomeTags = "genome-tags.csv"
    case genomeScores = "genome-scores.csv"

    var header: [String] {
        switch self {
        case .movies: return ["movieId", "title", "genres"]
        case .ratings: return ["userId", "movieId", "rating", "timestamp"]
        case .tags: return ["userId", "movieId", "tag", "timestamp"]
        case .links: return ["movieId", "imdbId", "tmdbId"]
        case .genomeTags: return ["tagId", "tag"]
        case .genomeScores: return ["movieId", "tagId", "relevance"]
        }
    }

    var isRequired: Bool { self == .movies || self == .ratings }
}
