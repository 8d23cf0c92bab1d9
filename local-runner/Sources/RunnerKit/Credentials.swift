import Foundation

/// The S3 credentials of one data directory: made up at its first start from the system's
/// random generator (none ship with the code), kept in `credentials` (mode 0600) and handed to
/// the functions and to the user.
enum Credentials {
    static func file(in dataDirectory: URL) -> URL { dataDirectory.appendingPathComponent("credentials") }

    static func loadOrCreate(in dataDirectory: URL) throws -> S3Credentials {
        if let existing = try load(from: dataDirectory) { return existing }
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let secretAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let keyID = "LOCAL" + String((0..<15).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
        let secret = String((0..<40).map { _ in secretAlphabet[Int(generator.next() % UInt64(secretAlphabet.count))] })
        let text = "AWS_ACCESS_KEY_ID=\(keyID)\nAWS_SECRET_ACCESS_KEY=\(secret)\n"
        let path = file(in: dataDirectory).path
        // Created with 0600 from the start: never readable by others, not even for a moment.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw RunnerError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = text.withCString { write(fd, $0, strlen($0)) }
        guard written == text.utf8.count else { throw RunnerError("cannot write \(path)") }
        return S3Credentials(accessKeyID: keyID, secretAccessKey: secret)
    }

    static func load(from dataDirectory: URL) throws -> S3Credentials? {
        let path = file(in: dataDirectory).path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        guard let keyID = values["AWS_ACCESS_KEY_ID"], let secret = values["AWS_SECRET_ACCESS_KEY"], !keyID.isEmpty, !secret.isEmpty else {
            throw RunnerError("\(path) is damaged: it needs AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines (delete it to make new credentials)")
        }
        return S3Credentials(accessKeyID: keyID, secretAccessKey: secret)
    }

    /// `local-runner credentials`: lines for `eval "$(local-runner credentials)"`.
    static func exports(_ credentials: S3Credentials, endpoints: Endpoints?) -> String {
        var lines = ["export AWS_ACCESS_KEY_ID=\(credentials.accessKeyID)",
                     "export AWS_SECRET_ACCESS_KEY=\(credentials.secretAccessKey)",
                     "export AWS_DEFAULT_REGION=us-east-1"]
        if let endpoints {
            // Service endpoints (botocore 1.31+ and AWS CLI v2 read these): `aws s3 ls` and
            // `aws lambda invoke` then talk to the runner without --endpoint-url.
            lines.append("export AWS_ENDPOINT_URL_S3=\(endpoints.s3)")
            lines.append("export AWS_ENDPOINT_URL_LAMBDA=\(endpoints.gateway)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Where the last start of a data directory served, for `local-runner credentials`.
struct Endpoints: Codable {
    var gateway: String
    var s3: String

    static func file(in dataDirectory: URL) -> URL { dataDirectory.appendingPathComponent("endpoints.json") }

    static func load(from dataDirectory: URL) -> Endpoints? {
        guard let data = try? Data(contentsOf: file(in: dataDirectory)) else { return nil }
        return try? JSONDecoder().decode(Endpoints.self, from: data)
    }

    func save(in dataDirectory: URL) throws {
        try JSONEncoder().encode(self).write(to: Self.file(in: dataDirectory), options: .atomic)
    }
}
