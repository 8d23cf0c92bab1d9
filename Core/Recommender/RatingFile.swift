/// Reads a MovieLens `ratings.csv` (userId,movieId,rating,timestamp) into training data,
/// for side-by-side evaluation on files shared with other tools.
public enum RatingFile {
    public static func load(_ path: String) throws(FunctionError) -> RatingData {
        var builder = RatingData.Builder()
        try forEach(path) { user, item, rating, timestamp in builder.append(user: user, item: item, rating: rating, timestamp: timestamp) }
        return builder.build()
    }

    public static func loadTest(_ path: String) throws(FunctionError) -> [TestRating] {
        var result: [TestRating] = []
        try forEach(path) { user, item, rating, _ in result.append(TestRating(user: user, item: item, rating: rating)) }
        return result
    }

    private static func forEach(_ path: String, _ body: (Int32, Int32, Float, Int64) -> Void) throws(FunctionError) {
        var reader = try CSVReader(path: path)
        do {
            guard try reader.next() else { throw FunctionError.invalidInput("\(path) is empty") }
            while try reader.next() {
                guard reader.fields.count == 4,
                      let user = FieldParser.int32(reader.bytes(0)), user >= 0, user < IDSet.maximumID,
                      let item = FieldParser.int32(reader.bytes(1)), item >= 0, item < IDSet.maximumID,
                      let halves = FieldParser.halfStars(reader.bytes(2)),
                      let timestamp = FieldParser.int64(reader.bytes(3)) else {
                    throw FunctionError.unprocessable("\(path) line \(reader.line): expected userId,movieId,rating,timestamp")
                }
                body(user, item, Float(halves) / 2, timestamp)
            }
        } catch let error as FunctionError {
            throw error
        } catch let syntax as CSVReader.SyntaxError {
            throw FunctionError.unprocessable("\(path) line \(syntax.line): \(syntax.reason)")
        } catch {
            throw FunctionError.wrap(error)
        }
    }
}
