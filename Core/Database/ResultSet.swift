import CLibPQ

/// Rows of a result in libpq's text format, read by column index with typed accessors.
public final class ResultSet {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    public var count: Int { Int(PQntuples(result)) }
    public var columnCount: Int { Int(PQnfields(result)) }
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    public func columnName(_ column: Int) -> String { String(cString: PQfname(result, Int32(column))) }

    public func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(result, Int32(row), Int32(column)) == 1 }

    public func string(_ row: Int, _ column: Int) -> String? {
        guard row < count, !isNull(row, column) else { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    public func int(_ row: Int, _ column: Int) -> Int? { string(row, column).flatMap { Int($0) } }
    public func double(_ row: Int, _ column: Int) -> Double? { string(row, column).flatMap { Double($0) } }
    public func bool(_ row: Int, _ column: Int) -> Bool? { string(row, column).map { $0 == "t" } }

    /// Reads every row through `make`.
    public func map<T>(_ make: (Row) throws(FunctionError) -> T) throws(FunctionError) -> [T] {
        var rows: [T] = []
        rows.reserveCapacity(count)
        for index in 0..<count { rows.append(try make(Row(set: self, index: index))) }
        return rows
    }

    public func row(_ index: Int) -> Row { Row(set: self, index: index) }

    public struct Row {
        let set: ResultSet
        let index: Int
        public func string(_ column: Int) -> String? { set.string(index, column) }
        public func int(_ column: Int) -> Int? { set.int(index, column) }
        public func double(_ column: Int) -> Double? { set.double(index, column) }
        public func bool(_ column: Int) -> Bool? { set.bool(index, column) }
        public func json(_ column: Int) -> JSONValue? {
            string(column).flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        }
    }
}

/// A value that can travel as a query parameter, in PostgreSQL's text representation.
public protocol SQLParameter { var sqlText: String { get } }

extension Int: SQLParameter { public var sqlText: String { String(self) } }
extension Int32: SQLParameter { public var sqlText: String { String(self) } }
extension Int64: SQLParameter { public var sqlText: String { String(self) } }
extension Double: SQLParameter { public var sqlText: String { String(self) } }
extension Float: SQLParameter { public var sqlText: String { String(self) } }
extension String: SQLParameter { public var sqlText: String { self } }
extension Bool: SQLParameter { public var sqlText: String { self ? "true" : "false" } }
extension JSONValue: SQLParameter { public var sqlText: String { JSON.encodeString(self) } }

/// An array parameter (`int[]`, `text[]`), written as a PostgreSQL array literal.
public struct SQLArray<Element: SQLParameter>: SQLParameter {
    public var elements: [Element]
    public init(_ elements: [Element]) { self.elements = elements }
    /// A PostgreSQL array literal: each element quoted, backslash and `"` escaped. Built byte by
    /// byte: it runs on every recommendation logged, and regex-based replacing cost more than
    /// the query.
    public var sqlText: String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        for (index, element) in elements.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            for byte in element.sqlText.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
