import Foundation

/// The operator UI and the API documentation: files of one directory served for GET and HEAD.
/// `/` is the UI's index.html, `/ui/NAME` its files, `/openapi.json` and `/docs` the API
/// description and the page that renders it. Files are read on each request (no cache in the
/// runner, `Cache-Control: no-cache` for the browser) so editing the UI needs no restart.
struct StaticSite: Sendable {
    let directory: String

    /// The repository's `local-runner/ui`, found from the template (`template/template.yaml`).
    static func defaultDirectory(template: String) -> String {
        let templateDirectory = URL(fileURLWithPath: template).deletingLastPathComponent()
        return templateDirectory.deletingLastPathComponent().appendingPathComponent("local-runner/ui").path
    }

    /// The file a request path names, or nil when the path is not the site's.
    static func file(for path: String) -> String? {
        switch path {
        case "/", "/index.html": return "index.html"
        case "/openapi.json": return "openapi.json"
        case "/docs", "/docs/": return "docs.html"
        default:
            guard path.hasPrefix("/ui/") else { return nil }
            return String(path.dropFirst("/ui/".count))
        }
    }

    /// Answers a request for the site, or nil to let the gateway route it.
    func handle(_ request: HTTPServer.Request) -> HTTPServer.Response? {
        guard request.method == "GET" || request.method == "HEAD", let name = Self.file(for: request.path) else { return nil }
        guard let relative = Self.safeRelativePath(name) else { return .json(404, ["message": "Not Found"]) }
        let path = directory + "/" + relative
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let body = FileManager.default.contents(atPath: path) else {
            return .json(404, ["message": "Not Found"])
        }
        let tag = "\"\(Self.fingerprint(body))\""
        let headers = [("Content-Type", Self.contentType(of: relative)), ("Cache-Control", "no-cache"), ("ETag", tag),
                       ("X-Content-Type-Options", "nosniff")]
        if request.header("if-none-match")?.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == tag }) == true {
            return HTTPServer.Response(status: 304, headers: headers.filter { $0.0 != "Content-Type" })
        }
        // HEAD: the GET's headers without the body.
        return HTTPServer.Response(status: 200, headers: headers, body: body)
    }

    /// The path below the site's directory, or nil for anything that could leave it: `..` (also
    /// percent-encoded), NUL, backslashes, absolute or empty names, hidden files.
    static func safeRelativePath(_ name: String) -> String? {
        guard let decoded = name.removingPercentEncoding, !decoded.isEmpty else { return nil }
        guard !decoded.contains("\0"), !decoded.contains("\\"), !decoded.hasPrefix("/") else { return nil }
        let parts = decoded.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") }) else { return nil }
        return decoded
    }

    static func contentType(of name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "html": return "text/html; charset=utf-8"
        case "js": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json": return "application/json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "ico": return "image/x-icon"
        case "txt": return "text/plain; charset=utf-8"
        default: return "application/octet-stream"
        }
    }

    /// FNV-1a over the bytes: a cheap validator for If-None-Match, not a security hash.
    static func fingerprint(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return String(hash, radix: 16) + "-" + String(data.count, radix: 16)
    }
}
