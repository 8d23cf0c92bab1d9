/// Builds COPY data in PostgreSQL's binary format (no text parsing on the server side: the
/// cheapest way to move 20M rows) and hands it to libpq in large chunks.
public struct CopyWriter {
    public enum Format { case binary }

    private let database: Database
    private var buffer: [UInt8] = []
    private var fieldsInRow = 0
    private static let flushThreshold = 1 << 20
    public private(set) var rows = 0

    init(database: Database, format: Format) {
        self.database = database
        buffer.reserveCapacity(Self.flushThreshold + 4096)
        buffer.append(contentsOf: Array("PGCOPY\n".utf8))
        buffer.append(contentsOf: [0xFF, 0x0D, 0x0A, 0x00])
        appendBigEndian(UInt32(0))  // flags
        appendBigEndian(UInt32(0))  // header extension length
    }

    /// Starts a row of `fields` columns; write exactly that many fields next.
    public mutating func beginRow(fields: Int) throws(FunctionError) {
        if buffer.count >= Self.flushThreshold { try flush() }
        appendBigEndian(UInt16(fields))
        rows += 1
    }

    public mutating func int32(_ value: Int32) {
        appendBigEndian(UInt32(4))
        appendBigEndian(UInt32(bitPattern: value))
    }

    public mutating func int16(_ value: Int16) {
        appendBigEndian(UInt32(2))
        appendBigEndian(UInt16(bitPattern: value))
    }

    public mutating func int64(_ value: Int64) {
        appendBigEndian(UInt32(8))
        appendBigEndian(UInt64(bitPattern: value))
    }

    public mutating func float32(_ value: Float) {
        appendBigEndian(UInt32(4))
        appendBigEndian(value.bitPattern)
    }

    public mutating func float64(_ value: Double) {
        appendBigEndian(UInt32(8))
        appendBigEndian(value.bitPattern)
    }

    public mutating func text(_ value: String) {
        var value = value
        value.withUTF8 { bytes in text(bytes) }
    }

    /// UTF-8 bytes already validated by the caller.
    public mutating func text(_ bytes: UnsafeBufferPointer<UInt8>) {
        appendBigEndian(UInt32(bytes.count))
        buffer.append(contentsOf: bytes)
    }

    public mutating func null() {
        appendBigEndian(UInt32(bitPattern: -1))
    }

    mutating func finish() throws(FunctionError) {
        appendBigEndian(UInt16(0xFFFF))
        try flush()
    }

    private mutating func flush() throws(FunctionError) {
        let database = self.database
        var failure: FunctionError?
        buffer.withUnsafeBytes { bytes in
            do throws(FunctionError) { try database.putCopyData(bytes) } catch { failure = error }
        }
        if let failure { throw failure }
        buffer.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}
