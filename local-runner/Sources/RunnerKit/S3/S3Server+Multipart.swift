import Foundation

/// Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
/// AbortMultipartUpload (in S3Server+Objects), ListParts.
extension S3Server {
    func createUpload(_ call: Call, key: String, _ store: ObjectStore) throws -> HTTPServer.Response {
        let template = Self.template(from: call)
        var algorithm: ChecksumAlgorithm?
        if let name = call.header("x-amz-checksum-algorithm") {
            guard let known = ChecksumAlgorithm(name: name) else { throw S3Error.invalidRequest("Checksum algorithm \(name) is not supported here") }
            algorithm = known
        }
        let type = call.header("x-amz-checksum-type")?.uppercased()
        guard type == nil || type == "COMPOSITE" || type == "FULL_OBJECT" else { throw S3Error.invalidRequest("Unknown checksum type \(type ?? "")") }
        let upload = try store.createUpload(bucket: call.bucket, key: key, contentType: template.contentType, userMetadata: template.userMetadata,
                                            headers: template.headers, checksumAlgorithm: algorithm, checksumType: type)
        var headers: [(String, String)] = []
        if let algorithm = upload.checksumAlgorithm, let type = upload.checksumType {
            headers = [("x-amz-checksum-algorithm", algorithm), ("x-amz-checksum-type", type)]
        }
        let body = S3XML.document("InitiateMultipartUploadResult", [S3XML.element("Bucket", call.bucket), S3XML.element("Key", key), S3XML.element("UploadId", upload.uploadID)])
        return Self.xml(body, headers: headers)
    }

    func uploadPart(_ call: Call, key: String, _ store: ObjectStore) throws -> HTTPServer.Response {
        guard let uploadID = call.query["uploadId"], let numberText = call.query["partNumber"] else {
            throw S3Error.invalidRequest("UploadPart needs both uploadId and partNumber")
        }
        guard let number = Int(numberText) else { throw S3Error.invalidArgument("Part number must be an integer between 1 and 10000, inclusive") }
        if call.header("x-amz-copy-source") != nil { throw S3Error.notImplemented("UploadPartCopy") }
        try verifyContentMD5(call)
        let checksum = try Self.checksum(of: call)
        let part = try store.putPart(bucket: call.bucket, uploadID: uploadID, key: key, number: number, data: call.payload, checksum: checksum?.1)
        var headers = [("ETag", "\"\(part.etag)\"")]
        if let (algorithm, value) = checksum { headers.append((algorithm.headerName, value)) }
        return HTTPServer.Response(status: 200, headers: headers)
    }

    func completeUpload(_ call: Call, key: String, _ store: ObjectStore) throws -> HTTPServer.Response {
        let uploadID = call.query["uploadId"] ?? ""
        let text = String(decoding: call.payload, as: UTF8.self)
        guard text.contains("CompleteMultipartUpload") else { throw S3Error.malformedXML() }
        var parts: [CompletedPart] = []
        let blocks = S3XML.elements("Part", in: text, limit: ObjectStore.maximumParts)
        guard blocks.count <= ObjectStore.maximumParts else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and \(ObjectStore.maximumParts), inclusive")
        }
        for block in blocks {
            guard let number = S3XML.text("PartNumber", in: block).flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
                  let etag = S3XML.text("ETag", in: block) else { throw S3Error.malformedXML() }
            let checksum = ChecksumAlgorithm.allCases.lazy.compactMap { S3XML.text($0.xmlName, in: block) }.first
            parts.append(CompletedPart(number: number, etag: etag, checksum: checksum))
        }
        let meta = try store.completeUpload(bucket: call.bucket, uploadID: uploadID, key: key, parts: parts)
        var children = [S3XML.element("Location", "http://\(call.header("host") ?? host)/\(call.bucket)/\(SigV4.uriEncode(key, keepSlash: true))"),
                        S3XML.element("Bucket", call.bucket), S3XML.element("Key", key), S3XML.element("ETag", meta.quotedETag)]
        var headers: [(String, String)] = []
        for (algorithm, value) in meta.checksums.sorted(by: { $0.key < $1.key }) {
            guard let known = ChecksumAlgorithm(name: algorithm) else { continue }
            children.append(S3XML.element(known.xmlName, value))
            headers.append((known.headerName, value))
        }
        if let type = meta.checksumType { children.append(S3XML.element("ChecksumType", type)); headers.append(("x-amz-checksum-type", type)) }
        return Self.xml(S3XML.document("CompleteMultipartUploadResult", children), headers: headers)
    }

    func listParts(_ call: Call, key: String, _ store: ObjectStore) throws -> HTTPServer.Response {
        let uploadID = call.query["uploadId"] ?? ""
        let (upload, parts) = try store.listParts(bucket: call.bucket, uploadID: uploadID, key: key)
        let marker = call.query["part-number-marker"].flatMap { Int($0) } ?? 0
        let maxParts = min(call.query["max-parts"].flatMap { Int($0) } ?? 1000, 1000)
        let after = parts.filter { $0.number > marker }
        let page = Array(after.prefix(maxParts))
        let truncated = after.count > page.count
        var children = [S3XML.element("Bucket", call.bucket), S3XML.element("Key", key), S3XML.element("UploadId", uploadID),
                        "<Initiator><ID>local-runner</ID><DisplayName>local-runner</DisplayName></Initiator>", Self.owner,
                        S3XML.element("StorageClass", "STANDARD"), S3XML.element("PartNumberMarker", String(marker)),
                        S3XML.element("NextPartNumberMarker", String(page.last?.number ?? marker)), S3XML.element("MaxParts", String(maxParts)),
                        S3XML.element("IsTruncated", truncated ? "true" : "false")]
        if let algorithm = upload.checksumAlgorithm { children.append(S3XML.element("ChecksumAlgorithm", algorithm)) }
        if let type = upload.checksumType { children.append(S3XML.element("ChecksumType", type)) }
        let algorithm = upload.checksumAlgorithm.flatMap { ChecksumAlgorithm(name: $0) }
        for part in page {
            var entry = "<Part>" + S3XML.element("PartNumber", String(part.number)) + S3XML.element("LastModified", HTTPDate.iso8601(part.lastModified))
                + S3XML.element("ETag", "\"\(part.etag)\"") + S3XML.element("Size", String(part.size))
            if let algorithm, let checksum = part.checksum { entry += S3XML.element(algorithm.xmlName, checksum) }
            children.append(entry + "</Part>")
        }
        return Self.xml(S3XML.document("ListPartsResult", children))
    }
}
