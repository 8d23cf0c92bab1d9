#if canImport(Glibc)
import Glibc
#endif

/// The local directories a function may read datasets from and write them to.
///
/// Set once by whoever starts the functions, never per request: `MOVIEREC_FILE_ROOTS` is a
/// colon-separated list of directories (the local runner gives its data directory and the
/// dataset directory it was started with; a deployed stack gives none, so only `s3://` is
/// used). When the variable is absent, as for a person piping an event into the binary on
/// their own machine, any path of theirs is theirs to use.
///
/// A path outside the roots gets the same answer whether or not it exists ("not allowed"), so
/// requests cannot probe the file system. Paths are checked twice: as written (`..` removed)
/// and after symlinks are resolved, so a link inside a root cannot lead out of it.
public struct FileRoots: Sendable {
    /// nil: no restriction.
    public let roots: [String]?

    public init(roots: [String]?) {
        self.roots = roots.map { list in list.filter { !$0.isEmpty }.map { FileRoots.resolved($0) ?? FileRoots.normalised($0) } }
    }

    /// From `MOVIEREC_FILE_ROOTS`.
    public static var configured: FileRoots {
        guard let value = getenv("MOVIEREC_FILE_ROOTS") else { return FileRoots(roots: nil) }
        return FileRoots(roots: String(cString: value).split(separator: ":").map(String.init))
    }

    /// An existing directory to read, as its resolved path.
    public func directoryToRead(_ path: String, field: String) throws(FunctionError) -> String {
        let lexical = try allowed(path, field: field)
        var info = stat()
        guard let real = Self.resolved(lexical), stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw FunctionError.invalidInput("\(field) '\(path)' is not a directory; give a local directory or s3://bucket/prefix/", details: ["field": .string(field)])
        }
        guard contains(real) else { throw notAllowed(path, field: field) }
        return real
    }

    /// Makes a new directory for output and returns its resolved path. It must not exist yet:
    /// outputs never go over files they did not create (and BufferedFile opens each file with
    /// O_EXCL | O_NOFOLLOW inside it).
    public func newDirectory(_ path: String, field: String) throws(FunctionError) -> String {
        let lexical = try allowed(path, field: field)
        let cut = lexical.lastIndex(of: "/") ?? lexical.startIndex
        let parent = cut == lexical.startIndex ? "/" : String(lexical[..<cut])
        let name = String(lexical[lexical.index(after: cut)...])
        guard !name.isEmpty, let realParent = Self.resolved(parent) else {
            throw FunctionError.invalidInput("\(field) '\(path)': its parent directory does not exist", details: ["field": .string(field)])
        }
        guard contains(realParent) else { throw notAllowed(path, field: field) }
        let target = realParent == "/" ? "/" + name : realParent + "/" + name
        guard mkdir(target, 0o755) == 0 else {
            if errno == EEXIST {
                throw FunctionError.conflict("\(field) '\(path)' already exists; give a new directory (nothing is written over files this function did not create)",
                                             details: ["field": .string(field)])
            }
            throw FunctionError.invalidInput("cannot create \(field) '\(path)': \(String(cString: strerror(errno)))", details: ["field": .string(field)])
        }
        return target
    }

    /// The path with `.` and `..` removed, refused unless it lies under a root.
    private func allowed(_ path: String, field: String) throws(FunctionError) -> String {
        guard let roots else { return Self.normalised(path) }
        guard path.hasPrefix("/") else {
            throw FunctionError.invalidInput("\(field) must be an absolute path or s3://bucket/prefix/, got '\(path)'", details: ["field": .string(field)])
        }
        let lexical = Self.normalised(path)
        guard contains(lexical), !roots.isEmpty else { throw notAllowed(path, field: field) }
        return lexical
    }

    private func contains(_ path: String) -> Bool {
        guard let roots else { return true }
        return roots.contains { root in root == "/" || path == root || path.hasPrefix(root + "/") }
    }

    private func notAllowed(_ path: String, field: String) -> FunctionError {
        let places = (roots ?? []).isEmpty ? "s3:// only" : "s3:// or a path under " + (roots ?? []).joined(separator: ", ")
        return FunctionError(status: 403, code: "not_allowed", message: "\(field) '\(path)' is not allowed: this function may use \(places)",
                             details: ["field": .string(field)])
    }

    /// `.` and `..` and repeated slashes removed, without touching the file system.
    static func normalised(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : joined
    }

    /// realpath(3): the path with every symlink resolved, or nil when it does not exist.
    static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
