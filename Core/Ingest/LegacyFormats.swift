#if canImport(Glibc)
import Glibc
#endif

/// The older MovieLens layouts, rewritten into the CSV layout the importer reads:
/// ml-1m (`ratings.dat`, `movies.dat`, "::"-separated) and ml-100k (`u.data` tab-separated,
/// `u.item` "|"-separated with 19 genre flags). Both are ISO-8859-1, turned into UTF-8 here.
enum LegacyFormat: String {
    case ml1m = "ml-1m"
    case ml100k = "ml-100k"

    static func detect(_ directory: String) -> LegacyFormat? {
        func exists(_ name: String) -> Bool { access(directory + "/" + name, R_OK) == 0 }
        if exists("movies.csv") { return nil }
        if exists("ratings.dat") && exists("movies.dat") { return .ml1m }
        if exists("u.data") && exists("u.item") { return .ml100k }
        return nil
    }

    static let ml100kGenres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
                               "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]

    /// Writes movies.csv and ratings.csv into `output`.
    func convert(_ directory: String, into output: String) throws(FunctionError) {
        switch self {
        case .ml1m:
            try rewrite(directory + "/movies.dat", name: "movies.dat", into: output + "/movies.csv", header: "movieId,title,genres") { fields, line throws(FunctionError) in
                guard fields.count == 3 else { throw Self.bad("movies.dat", line, "has \(fields.count) fields; expected MovieID::Title::Genres") }
                return [fields[0], fields[1], fields[2]]
            } split: { $0.components("::") }
            try rewrite(directory + "/ratings.dat", name: "ratings.dat", into: output + "/ratings.csv", header: "userId,movieId,rating,timestamp") { fields, line throws(FunctionError) in
                guard fields.count == 4 else { throw Self.bad("ratings.dat", line, "has \(fields.count) fields; expected UserID::MovieID::Rating::Timestamp") }
                return fields
            } split: { $0.components("::") }
        case .ml100k:
            try rewrite(directory + "/u.item", name: "u.item", into: output + "/movies.csv", header: "movieId,title,genres") { fields, line throws(FunctionError) in
                guard fields.count == 24 else { throw Self.bad("u.item", line, "has \(fields.count) fields; expected 5 and 19 genre flags") }
                let genres = (0..<19).filter { fields[5 + $0] == "1" }.map { Self.ml100kGenres[$0] }
                return [fields[0], fields[1], genres.isEmpty ? "(no genres listed)" : genres.joined(separator: "|")]
            } split: { $0.components("|") }
            try rewrite(directory + "/u.data", name: "u.data", into: output + "/ratings.csv", header: "userId,movieId,rating,timestamp") { fields, line throws(FunctionError) in
                guard fields.count == 4 else { throw Self.bad("u.data", line, "has \(fields.count) fields; expected user, item, rating, timestamp") }
                return fields
            } split: { $0.components("\t") }
        }
    }

    static func bad(_ file: String, _ line: Int, _ reason: String) -> FunctionError {
        FunctionError.unprocessable("\(file) line \(line): \(reason); nothing was imported",
                                    details: ["file": .string(file), "line": .number(Double(line)), "reason": .string(reason)])
    }

    /// Line by line: ISO-8859-1 to UTF-8, split, map to CSV fields (quoted where needed).
    private func rewrite(_ path: String, name: String, into target: String, header: String,
                         _ transform: ([String], Int) throws(FunctionError) -> [String], split: (String) -> [String]) throws(FunctionError) {
        guard let input = fopen(path, "r") else { throw FunctionError.invalidInput("cannot read \(path)") }
        defer { fclose(input) }
        var output = try BufferedFile(path: target)
        try output.write(header + "\n")
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        var number = 0
        while fgets(&buffer, Int32(buffer.count), input) != nil {
            number += 1
            var bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            if bytes.isEmpty { continue }
            var text = ""
            text.unicodeScalars.append(contentsOf: bytes.map { Unicode.Scalar($0) })  // ISO-8859-1: byte = code point
            let fields = try transform(split(text), number)
            for (index, field) in fields.enumerated() {
                if index > 0 { try output.byte(UInt8(ascii: ",")) }
                try output.csvField(field)
            }
            try output.byte(UInt8(ascii: "\n"))
        }
        try output.flush()
    }
}

private extension String {
    func components(_ separator: String) -> [String] {
        split(separator: separator, omittingEmptySubsequences: false).map(String.init)
    }
}
