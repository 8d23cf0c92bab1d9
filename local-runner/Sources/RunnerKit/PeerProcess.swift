import Foundation

/// Which process is at the other end of a loopback TCP connection, read from /proc.
///
/// A worker's Runtime API endpoint is a TCP port (that is Lambda's contract: the runtime is
/// given `host:port`), and any local user can connect to a port. So the endpoint asks the
/// kernel who connected: the client side of the connection appears in /proc/net/tcp with its
/// socket's inode, and that inode is among the open descriptors of exactly the process that
/// holds it. Only the process the pool started (or a process it started) is served. A peer
/// that cannot be identified is refused, never trusted. The check runs once per connection,
/// and a worker keeps its one connection for its whole life.
enum PeerProcess {
    /// True when the connection from 127.0.0.1:`peerPort` to our `localPort` belongs to
    /// `pid` or one of its descendants.
    static func connection(fromPort peerPort: Int, toPort localPort: Int, belongsTo pid: pid_t) -> Bool {
        guard let inode = socketInode(fromPort: peerPort, toPort: localPort) else { return false }
        let target = "socket:[\(inode)]"
        var pending: [pid_t] = [pid]
        var seen: Set<pid_t> = []
        while let next = pending.popLast(), seen.insert(next).inserted, seen.count <= 64 {
            if holds(next, link: target) { return true }
            pending.append(contentsOf: children(of: next))
        }
        return false
    }

    /// The inode of the client-side socket: the /proc/net/tcp line whose local address is
    /// 127.0.0.1:peerPort and whose remote address is 127.0.0.1:localPort.
    static func socketInode(fromPort peerPort: Int, toPort localPort: Int) -> UInt64? {
        guard let table = read("/proc/net/tcp") else { return nil }
        let local = "0100007F:" + hex4(peerPort)
        let remote = "0100007F:" + hex4(localPort)
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, fields[1] == local, fields[2] == remote else { continue }
            return UInt64(fields[9])
        }
        return nil
    }

    /// A /proc file whole. They report a size of 0, so they are read until end of file rather
    /// than by their size (as Foundation's readers do).
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex4(_ port: Int) -> String {
        let digits = String(port, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private static func holds(_ pid: pid_t, link target: String) -> Bool {
        let directory = "/proc/\(pid)/fd"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        var buffer = [CChar](repeating: 0, count: 64)
        for name in names {
            let length = readlink(directory + "/" + name, &buffer, buffer.count - 1)
            guard length > 0 else { continue }
            buffer[length] = 0
            if String(cString: buffer) == target { return true }
        }
        return false
    }

    private static func children(of pid: pid_t) -> [pid_t] {
        let tasks = "/proc/\(pid)/task"
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: tasks) else { return [] }
        return threads.flatMap { thread -> [pid_t] in
            guard let text = read("\(tasks)/\(thread)/children") else { return [] }
            return text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }
}
