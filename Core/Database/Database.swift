import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL connection over libpq. Parameterised SQL only: values travel as parameters,
/// never spliced into the statement text. Not thread-safe: one connection per thread.
public final class Database {
    let connection: OpaquePointer

    /// Connects with a libpq connection string: a URL (`postgresql://user@host:port/db`,
    /// `postgresql:///db?host=/run/sock`) or the keyword form (`host=/tmp dbname=movierec`).
    public init(url: String) throws(FunctionError) {
        guard let connection = PQconnectdb(url) else { throw FunctionError.dependencyDown("libpq could not allocate a connection") }
        self.connection = connection
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmed
            throw FunctionError.dependencyDown("cannot connect to PostgreSQL: \(message)")
        }
        PQsetNoticeProcessor(connection, { _, _ in }, nil)  // NOTICEs (e.g. "relation already exists") are not errors
    }

    /// The database named by `DATABASE_URL`.
    public static func fromEnvironment() throws(FunctionError) -> Database {
        guard let url = environment("DATABASE_URL") else {
            throw FunctionError.dependencyDown("DATABASE_URL is not set; point it at PostgreSQL (e.g. postgresql://user@127.0.0.1:5432/movierec)")
        }
        return try Database(url: url)
    }

    deinit { PQfinish(connection) }

    public var isAlive: Bool { PQstatus(connection) == CONNECTION_OK }

    // MARK: queries

    /// Runs one statement with positional parameters (`$1`, `$2`, ...) and returns its rows.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any SQLParameter)?] = []) throws(FunctionError) -> ResultSet {
        let texts: [String?] = parameters.map { $0?.sqlText }
        let result = withCStrings(texts) { pointers in
            PQexecParams(connection, sql, Int32(pointers.count), nil, pointers, nil, nil, 0)
        }
        return try check(result, sql: sql)
    }

    /// Runs several statements without parameters (schema scripts).
    public func executeScript(_ sql: String) throws(FunctionError) {
        _ = try check(PQexec(connection, sql), sql: sql)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws(FunctionError) -> T) throws(FunctionError) -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    // MARK: COPY

    /// Streams rows into the server with `COPY ... FROM STDIN`; `fill` writes them through the writer.
    /// Returns the number of rows the server reports.
    @discardableResult
    public func copyIn(_ sql: String, format: CopyWriter.Format = .binary,
                       _ fill: (inout CopyWriter) throws(FunctionError) -> Void) throws(FunctionError) -> Int {
        let start = PQexec(connection, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else { _ = try check(start, sql: sql); throw FunctionError.internal("COPY did not start") }
        PQclear(start)
        var writer = CopyWriter(database: self, format: format)
        do {
            try fill(&writer)
            try writer.finish()
        } catch {
            writer.abandon()
            PQputCopyEnd(connection, "aborted by the client")
            while let result = PQgetResult(connection) { PQclear(result) }
            throw error
        }
        guard PQputCopyEnd(connection, nil) == 1 else { throw connectionError("COPY end") }
        var rows = 0
        while let result = PQgetResult(connection) {
            let set = try check(result, sql: sql)
            rows += set.affectedRows
        }
        return rows
    }

    /// Streams `COPY ... TO STDOUT` output to `consume`, one server message (about a row) at a time.
    public func copyOut(_ sql: String, _ consume: (UnsafeRawBufferPointer) throws(FunctionError) -> Void) throws(FunctionError) {
        let start = PQexec(connection, sql)
        guard PQresultStatus(start) == PGRES_COPY_OUT else { _ = try check(start, sql: sql); throw FunctionError.internal("COPY did not start") }
        PQclear(start)
        var failure: FunctionError?
        while true {
            var buffer: UnsafeMutablePointer<CChar>? = nil
            let length = PQgetCopyData(connection, &buffer, 0)
            if length > 0, let buffer {
                if failure == nil {
                    do { try consume(UnsafeRawBufferPointer(start: buffer, count: Int(length))) } catch { failure = error }
                }
                PQfreemem(buffer)
            } else if length == -1 {
                break
            } else {
                throw connectionError("COPY TO STDOUT")
            }
        }
        while let result = PQgetResult(connection) { _ = try check(result, sql: sql) }
        if let failure { throw failure }
    }

    func putCopyData(_ bytes: UnsafeRawBufferPointer) throws(FunctionError) {
        guard bytes.count > 0 else { return }
        let ok = PQputCopyData(connection, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        guard ok == 1 else { throw connectionError("COPY data") }
    }

    // MARK: advisory locks

    /// Takes a session-level advisory lock if it is free; false when another session holds it.
    public func tryAdvisoryLock(_ key: Int64) throws(FunctionError) -> Bool {
        try execute("SELECT pg_try_advisory_lock($1)", [key]).bool(0, 0) ?? false
    }

    public func advisoryLock(_ key: Int64) throws(FunctionError) {
        try execute("SELECT pg_advisory_lock($1)", [key])
    }

    /// Waits for a transaction-level advisory lock, released by the transaction's end (call it
    /// inside `transaction`).
    public func advisoryTransactionLock(_ key: Int64) throws(FunctionError) {
        try execute("SELECT pg_advisory_xact_lock($1)", [key])
    }

    public func advisoryUnlock(_ key: Int64) throws(FunctionError) {
        try execute("SELECT pg_advisory_unlock($1)", [key])
    }

    // MARK: errors

    private func check(_ result: OpaquePointer?, sql: String) throws(FunctionError) -> ResultSet {
        guard let result else { throw connectionError(sql) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return ResultSet(result)
        default:
            let error = DatabaseError(result: result, connection: connection)
            PQclear(result)
            throw error.functionError
        }
    }

    private func connectionError(_ context: String) -> FunctionError {
        let message = String(cString: PQerrorMessage(connection)).trimmed
        Log.error("database connection failed", ["during": .string(String(context.prefix(60))), "message": .string(message)])
        return FunctionError.dependencyDown("the connection to PostgreSQL failed; see the function's log")
    }
}

/// A server error, keeping the SQLSTATE so callers can map it to a status.
struct DatabaseError {
    var sqlState: String
    var message: String
    var detail: String?
    var constraint: String?

    init(result: OpaquePointer, connection: OpaquePointer) {
        func field(_ code: UInt8) -> String? {
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        sqlState = field(UInt8(ascii: "C")) ?? "XX000"
        message = field(UInt8(ascii: "M")) ?? String(cString: PQerrorMessage(connection)).trimmed
        detail = field(UInt8(ascii: "D"))
        constraint = field(UInt8(ascii: "n"))
    }

    /// What a client is told: a stable code and message per kind of failure, with the SQLSTATE.
    /// PostgreSQL's own text (which can hold process and transaction ids, table and constraint
    /// names, values) goes to the function's log, never to the answer.
    var functionError: FunctionError {
        var logged: [String: JSONValue] = ["sqlstate": .string(sqlState), "message": .string(message)]
        if let detail { logged["detail"] = .string(detail) }
        if let constraint { logged["constraint"] = .string(constraint) }
        Log.error("database error", logged)
        let details: [String: JSONValue] = ["sqlstate": .string(sqlState)]
        switch sqlState {
        case "23505": return FunctionError(status: 409, code: "conflict", message: "a record with the same key already exists", details: details)
        case "23503", "23514", "23502", "22P02", "22003":
            return FunctionError(status: 422, code: "constraint_violation", message: "the change does not fit the stored data (a missing reference or a value out of range)", details: details)
        case "55P03", "40001", "40P01":
            return FunctionError(status: 409, code: "busy", message: "the database was busy with a concurrent change; retry the request", details: details)
        case "57014": return FunctionError(status: 504, code: "timeout", message: "the database query took too long and was cancelled", details: details)
        default:
            if sqlState.hasPrefix("08") || sqlState.hasPrefix("57") {
                return FunctionError.dependencyDown("PostgreSQL is unavailable (SQLSTATE \(sqlState)); see the function's log", details: details)
            }
            return FunctionError(status: 500, code: "database_error", message: "a database error occurred (SQLSTATE \(sqlState)); the details are in the function's log", details: details)
        }
    }
}

/// Keeps C strings alive for the duration of a libpq call.
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let duplicated = strings.map { $0.flatMap { strdup($0) } }
    defer { duplicated.forEach { free($0) } }
    return body(duplicated.map { $0.map { UnsafePointer($0) } })
}
