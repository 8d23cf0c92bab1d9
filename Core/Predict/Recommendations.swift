/// `POST /predict/`: `{user_id, top_n = 5, genres?, movie_id?}`.
public struct PredictRequest: Codable, Sendable, StrictRequest {
    public var userId: Int
    public var topN: Int?
    public var genres: [String]?
    public var movieId: Int?

    enum CodingKeys: String, CodingKey, CaseIterable { case userId = "user_id", topN = "top_n", genres, movieId = "movie_id" }

    /// The reference system's own documented call sends `n_recommendations` for `top_n`.
    static let referenceAliases = ["n_recommendations": "top_n"]
    public static let accepted = AcceptedKeys(CodingKeys.self, aliases: referenceAliases)

    public static let maximumTopN = 100

    func validated() throws(FunctionError) -> (user: Int32, topN: Int) {
        guard userId > 0, userId < Int(IDSet.maximumID) else { throw .invalidInput("user_id must be a positive integer, got \(userId)") }
        let topN = self.topN ?? 5
        guard (1...Self.maximumTopN).contains(topN) else { throw .invalidInput("top_n must be between 1 and \(Self.maximumTopN), got \(topN)") }
        if let movieId, movieId <= 0 { throw .invalidInput("movie_id must be a positive integer, got \(movieId)") }
        if let genres, genres.count > 20 { throw .invalidInput("at most 20 genres") }
        return (Int32(userId), topN)
    }
}

public struct Recommendation: Codable, Sendable {
    public var movieId: Int
    public var title: String
    public var genres: String
    public var score: Double
    /// The title again under the reference system's name, so its clients keep working.
    public var movie: String

    enum CodingKeys: String, CodingKey { case movieId = "movie_id", title, genres, score, movie }
}

public struct RecommendationList: Codable, Sendable {
    public var userId: Int
    public var recommendations: [Recommendation]
    public var method: String
    public var modelVersion: Int?
    public var topScore: Double?

    enum CodingKeys: String, CodingKey { case userId = "user_id", recommendations, method, modelVersion = "model_version", topScore = "top_score" }
}

public struct SinglePrediction: Codable, Sendable {
    public var userId: Int
    public var movieId: Int
    public var title: String?
    public var score: Double
    public var wasImpossible: Bool
    public var method: String
    public var modelVersion: Int?
    public var actualRating: Double?

    enum CodingKeys: String, CodingKey {
        case userId = "user_id", movieId = "movie_id", title, score, method
        case wasImpossible = "was_impossible", modelVersion = "model_version", actualRating = "actual_rating"
    }
}

/// Top-N selection without sorting everything: a small sorted buffer over the candidates.
func topIndices(_ scores: [Float], count: Int, excluded: (Int) -> Bool, order: [Int32]? = nil) -> [(Int, Float)] {
    var top: [(Int, Float)] = []
    top.reserveCapacity(count + 1)
    for index in scores.indices where !excluded(index) {
        let score = scores[index]
        if top.count == count, let last = top.last, score <= last.1 { continue }
        var position = top.count
        while position > 0 && top[position - 1].1 < score { position -= 1 }
        top.insert((index, score), at: position)
        if top.count > count { top.removeLast() }
    }
    return top
}
