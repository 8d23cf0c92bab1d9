import Dispatch

/// Builds COPY data in PostgreSQL's binary format (no text parsing on the server side: the
/// cheapest way to move 20M rows) and hands it to libpq in large chunks, sent from another
/// thread while the caller builds the next one.
public struct CopyWriter {
    public enum Format { case binary }

    private let sender: ChunkSender
    private var buffer: [UInt8] = []
    private var fieldsInRow = 0
    private static let flushThreshold = 1 << 20
    public private(set) var rows = 0

    init(database: Database, format: Format) {
        sender = ChunkSender(database: database)
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
        try sender.drain()
    }

    /// Waits for a chunk still being sent, so that the connection is the caller's again.
    func abandon() { try? sender.drain() }

    private mutating func flush() throws(FunctionError) {
        try sender.send(buffer)
        buffer = []
        buffer.reserveCapacity(Self.flushThreshold + 4096)
    }

    @inline(__always)
    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}

/// Sends COPY chunks one at a time on its own queue. The server reads a whole CopyData message
/// before it processes any of it, so a caller that sends for itself sits blocked while the
/// server works through the previous chunk, and the server then waits while the caller builds
/// the next: a 20M-row load ran at each side's speed in turn. With the send here, building and
/// processing overlap, and the load goes at the slower side's speed.
private final class ChunkSender: @unchecked Sendable {
    // Unchecked, and safe: `database` and `failure` are touched by the queue only between a
    // `send` and the next wait on `idle`, and the owner waits on `idle` (in `send` or `drain`)
    // before it reads `failure` or uses the connection again. One chunk is in flight at most.
    private let database: Database
    private let queue = DispatchQueue(label: "copy-sender")
    private let idle = DispatchSemaphore(value: 1)
    private var failure: FunctionError?

    init(database: Database) { self.database = database }

    func send(_ chunk: [UInt8]) throws(FunctionError) {
        idle.wait()
        if let failure { idle.signal(); throw failure }
        queue.async { [self] in
            chunk.withUnsafeBytes { bytes in
                do throws(FunctionError) { try database.putCopyData(bytes) } catch { failure = error }
            }
            idle.signal()
        }
    }

    func drain() throws(FunctionError) {
        idle.wait()
        idle.signal()
        if let failure { throw failure }
    }
}
