import Foundation
import Testing
@testable import Core

@Suite struct CSVReaderTests {
    func records(_ text: String, bufferSize: Int = 4 << 20) throws -> [[String]] {
        let path = TestServices.temporaryDirectory() + "/f.csv"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        var reader = try CSVReader(path: path, bufferSize: bufferSize)
        var rows: [[String]] = []
        while try reader.next() { rows.append((0..<reader.fields.count).map { reader.string($0) ?? "<invalid>" }) }
        return rows
    }

    @Test func quotedFieldsWithCommasQuotesAndNewlines() throws {
        let rows = try records("movieId,title,genres\n1,\"Good, the Bad and the Ugly, The (1966)\",Western\n2,\"\"\"Great\"\" Escape (1963)\",Action\n3,\"Two\nLines (2000)\",Drama\n")
        #expect(rows == [["movieId", "title", "genres"], ["1", "Good, the Bad and the Ugly, The (1966)", "Western"],
                         ["2", "\"Great\" Escape (1963)", "Action"], ["3", "Two\nLines (2000)", "Drama"]])
    }

    @Test func crlfAndMissingFinalNewline() throws {
        #expect(try records("a,b\r\n1,2\r\n3,4") == [["a", "b"], ["1", "2"], ["3", "4"]])
    }

    @Test func recordsSpanningBufferRefills() throws {
        var text = "userId,movieId,rating,timestamp\n"
        for i in 0..<2000 { text += "\(i),\(i * 7),\"3.5\",\(1_000_000 + i)\n" }
        let rows = try records(text, bufferSize: 64)
        #expect(rows.count == 2001)
        #expect(rows[1234] == ["1233", "8631", "3.5", "1001233"])
    }

    @Test func lineNumbersCountNewlinesInsideQuotes() throws {
        let path = TestServices.temporaryDirectory() + "/f.csv"
        try Data("h\n\"a\nb\"\nc\n".utf8).write(to: URL(fileURLWithPath: path))
        var reader = try CSVReader(path: path)
        var lines: [Int] = []
        while try reader.next() { lines.append(reader.line) }
        #expect(lines == [1, 2, 4])
    }

    @Test func unterminatedQuoteIsAnError() throws {
        #expect(throws: CSVReader.SyntaxError.self) { try records("a,b\n1,\"never closed\n") }
    }

    @Test func invalidUTF8IsReportedAsNil() throws {
        let path = TestServices.temporaryDirectory() + "/f.csv"
        try Data([0x61, 0x2C, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: path))
        var reader = try CSVReader(path: path)
        #expect(try reader.next())
        #expect(reader.string(1) == nil)
    }

    @Test(arguments: [("3.5", 7), ("4", 8), ("4.0", 8), ("0.5", 1), ("5.00", 10), ("10", 20)])
    func halfStarParsing(text: String, halves: Int) {
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBufferPointer { FieldParser.halfStars($0) } == halves)
    }

    @Test(arguments: ["3.3", "abc", "", "3.", ".5", "-1", "3.55"])
    func offGridRatingsAreRejected(text: String) {
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBufferPointer { FieldParser.halfStars($0) } == nil)
    }

    @Test func integersAreStrict() {
        func parse(_ s: String) -> Int64? { Array(s.utf8).withUnsafeBufferPointer { FieldParser.int64($0) } }
        #expect(parse("42") == 42)
        #expect(parse("-7") == -7)
        #expect(parse("4 2") == nil)
        #expect(parse("+1") == nil)
        #expect(parse("") == nil)
        #expect(parse("1e3") == nil)
    }

    @Test func releaseYears() {
        #expect(DatasetImporter.releaseYear("Toy Story (1995)") == 1995)
        #expect(DatasetImporter.releaseYear("Fawlty Towers (1975-1979)") == 1975)
        #expect(DatasetImporter.releaseYear("Hyena Road") == nil)
        #expect(DatasetImporter.releaseYear("1984 (Nineteen Eighty-Four) (1984)") == 1984)
    }
}
