import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// Reads a zip file (as GroupLens publishes MovieLens) from its central directory and
/// extracts entries to disk in a streaming way: a few hundred kilobytes of buffers, whatever
/// the entry's size. Stored and deflated entries, zip64 sizes; every entry's CRC-32 and size
/// are checked, so a truncated or corrupted download is an error, never a short file.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc: UInt32
        var compressedSize: Int64
        var size: Int64
        var localHeaderOffset: Int64

        /// The part after the last "/": `ml-25m/ratings.csv` is `ratings.csv`.
        var baseName: Substring { name.split(separator: "/", omittingEmptySubsequences: false).last ?? "" }
        var isDirectory: Bool { name.hasSuffix("/") }
    }

    let path: String
    /// The name the errors use ("ml-25m.zip").
    let label: String
    let entries: [Entry]
    private let fileSize: Int64

    init(path: String, label: String) throws(FunctionError) {
        self.path = path
        self.label = label
        let file = try ReadOnlyFile(path)
        defer { file.close() }
        fileSize = file.size
        entries = try Self.centralDirectory(file, label: label)
    }

    /// Extracts `entry` to `destination` (a new file), checking its size and CRC-32.
    func extract(_ entry: Entry, to destination: String) throws(FunctionError) {
        guard entry.flags & 1 == 0 else { throw Self.corrupt(label, "\(entry.name) is encrypted") }
        guard entry.method == 0 || entry.method == 8 else {
            throw Self.corrupt(label, "\(entry.name) uses compression method \(entry.method); only stored and deflated entries are read")
        }
        let file = try ReadOnlyFile(path)
        defer { file.close() }
        let local = try file.read(at: entry.localHeaderOffset, count: 30, label: label)
        guard local.u32(0) == 0x0403_4b50 else { throw Self.corrupt(label, "no local header for \(entry.name)") }
        var offset = entry.localHeaderOffset + 30 + Int64(local.u16(26)) + Int64(local.u16(28))
        guard offset + entry.compressedSize <= fileSize else { throw Self.truncated(label, "\(entry.name) ends past the end of the file") }

        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw FunctionError.internal("cannot create \(destination): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(output) }

        let chunk = 1 << 18
        var input = [UInt8](repeating: 0, count: chunk)
        var inflated = [UInt8](repeating: 0, count: chunk)
        var remaining = entry.compressedSize
        var crc = crc32(0, nil, 0)
        var written: Int64 = 0

        func emit(_ bytes: UnsafePointer<UInt8>, _ count: Int) throws(FunctionError) {
            // Never more than the directory promised: a zip bomb stops here, not when the disk is full.
            guard written + Int64(count) <= entry.size else {
                throw Self.corrupt(label, "\(entry.name) inflates past the \(entry.size) bytes its directory entry gives")
            }
            crc = crc32(crc, bytes, uInt(count))
            written += Int64(count)
            var done = 0
            while done < count {
                let n = write(output, bytes + done, count - done)
                guard n > 0 else { throw FunctionError.internal("cannot write \(destination): \(String(cString: strerror(errno)))") }
                done += n
            }
        }

        var stream = z_stream()
        if entry.method == 8 {
            guard czlib_inflate_init_raw(&stream) == Z_OK else { throw FunctionError.internal("zlib: cannot start inflating") }
        }
        defer { if entry.method == 8 { inflateEnd(&stream) } }
        var finished = false
        while remaining > 0 && !finished {
            let want = Int(min(Int64(chunk), remaining))
            let got = input.withUnsafeMutableBytes { pread(file.descriptor, $0.baseAddress, want, off_t(offset)) }
            guard got > 0 else { throw Self.truncated(label, "\(entry.name) could not be read to its end") }
            offset += Int64(got)
            remaining -= Int64(got)
            if entry.method == 0 {
                try input.withUnsafeBufferPointer { buffer throws(FunctionError) in try emit(buffer.baseAddress!, got) }
                continue
            }
            var failure: FunctionError?
            input.withUnsafeMutableBufferPointer { source in
                inflated.withUnsafeMutableBufferPointer { target in
                    stream.next_in = source.baseAddress
                    stream.avail_in = uInt(got)
                    repeat {
                        stream.next_out = target.baseAddress
                        stream.avail_out = uInt(chunk)
                        let status = inflate(&stream, Z_NO_FLUSH)
                        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                            failure = Self.corrupt(label, "\(entry.name) does not inflate (zlib status \(status))")
                            return
                        }
                        let produced = chunk - Int(stream.avail_out)
                        do throws(FunctionError) { try emit(target.baseAddress!, produced) } catch { failure = error; return }
                        if status == Z_STREAM_END { finished = true; return }
                        if status == Z_BUF_ERROR && produced == 0 { return }
                    } while stream.avail_out == 0 || stream.avail_in > 0
                }
            }
            if let failure { throw failure }
        }
        guard entry.method == 0 || finished else { throw Self.truncated(label, "\(entry.name) ends before its deflate stream does") }
        guard written == entry.size else {
            throw Self.corrupt(label, "\(entry.name) inflates to \(written) bytes; the directory says \(entry.size)")
        }
        guard UInt32(crc) == entry.crc else { throw Self.corrupt(label, "\(entry.name) fails its CRC-32 check") }
    }

    // MARK: the central directory

    private static func centralDirectory(_ file: ReadOnlyFile, label: String) throws(FunctionError) -> [Entry] {
        // The end-of-central-directory record is the last 22 bytes, before a comment of up to 64 KiB.
        let tailLength = Int(min(file.size, 22 + 65_535))
        guard tailLength >= 22 else { throw truncated(label, "the file is \(file.size) bytes, too short for a zip") }
        let tail = try file.read(at: file.size - Int64(tailLength), count: tailLength, label: label)
        var end = -1
        var index = tailLength - 22
        while index >= 0 {
            if tail.u32(index) == 0x0605_4b50 { end = index; break }
            index -= 1
        }
        guard end >= 0 else {
            throw truncated(label, "it has no end-of-central-directory record (\(file.size) bytes read)")
        }
        var count = Int64(tail.u16(end + 10))
        var directorySize = Int64(tail.u32(end + 12))
        var directoryOffset = Int64(tail.u32(end + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // zip64: a locator just before the record points at the zip64 end record.
            let locatorAt = file.size - Int64(tailLength) + Int64(end) - 20
            guard locatorAt >= 0 else { throw corrupt(label, "the zip64 locator is missing") }
            let locator = try file.read(at: locatorAt, count: 20, label: label)
            guard locator.u32(0) == 0x0706_4b50 else { throw corrupt(label, "the zip64 locator is missing") }
            let record = try file.read(at: Int64(locator.u64(8)), count: 56, label: label)
            guard record.u32(0) == 0x0606_4b50 else { throw corrupt(label, "the zip64 end record is missing") }
            count = Int64(record.u64(32)); directorySize = Int64(record.u64(40)); directoryOffset = Int64(record.u64(48))
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset + directorySize <= file.size, directorySize < 1 << 30 else {
            throw truncated(label, "its central directory lies outside the file")
        }
        let directory = try file.read(at: directoryOffset, count: Int(directorySize), label: label)
        var entries: [Entry] = []
        var at = 0
        for _ in 0..<count {
            guard at + 46 <= directory.count, directory.u32(at) == 0x0201_4b50 else { throw corrupt(label, "its central directory is damaged") }
            let nameLength = Int(directory.u16(at + 28)), extraLength = Int(directory.u16(at + 30)), commentLength = Int(directory.u16(at + 32))
            guard at + 46 + nameLength + extraLength + commentLength <= directory.count else { throw corrupt(label, "its central directory is damaged") }
            var entry = Entry(name: String(decoding: directory[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self),
                              method: directory.u16(at + 10), flags: directory.u16(at + 8), crc: directory.u32(at + 16),
                              compressedSize: Int64(directory.u32(at + 20)), size: Int64(directory.u32(at + 24)),
                              localHeaderOffset: Int64(directory.u32(at + 42)))
            // zip64 extra field: the 64-bit values, in this order, of the fields that read 0xFFFFFFFF.
            var extra = at + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = directory.u16(extra), length = Int(directory.u16(extra + 2))
                if id == 0x0001 {
                    var field = extra + 4
                    let fieldEnd = min(extra + 4 + length, extraEnd)
                    func next() -> Int64 { defer { field += 8 }; return field + 8 <= fieldEnd ? Int64(directory.u64(field)) : -1 }
                    if entry.size == 0xFFFF_FFFF { entry.size = next() }
                    if entry.compressedSize == 0xFFFF_FFFF { entry.compressedSize = next() }
                    if entry.localHeaderOffset == 0xFFFF_FFFF { entry.localHeaderOffset = next() }
                }
                extra += 4 + length
            }
            guard entry.size >= 0, entry.compressedSize >= 0, entry.localHeaderOffset >= 0 else { throw corrupt(label, "\(entry.name) has a damaged zip64 field") }
            entries.append(entry)
            at += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    static func truncated(_ label: String, _ detail: String) -> FunctionError {
        FunctionError(status: 502, code: "bad_download", message: "\(label) is truncated or not a zip: \(detail)")
    }

    static func corrupt(_ label: String, _ detail: String) -> FunctionError {
        FunctionError(status: 502, code: "bad_download", message: "\(label) is damaged: \(detail)")
    }
}

/// An open file read at offsets (pread), never as a whole.
private struct ReadOnlyFile {
    let descriptor: Int32
    let size: Int64

    init(_ path: String) throws(FunctionError) {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FunctionError.internal("cannot open \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        fstat(descriptor, &info)
        size = Int64(info.st_size)
    }

    func read(at offset: Int64, count: Int, label: String) throws(FunctionError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            guard n > 0 else { throw ZipArchive.truncated(label, "it ends at byte \(offset + Int64(done))") }
            done += n
        }
        return bytes
    }

    func close() { Glibc.close(descriptor) }
}

private extension [UInt8] {
    func u16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
}
