import Foundation

/// Service- and bucket-level operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
/// ListObjects(V2), DeleteObjects, GetBucketLocation, ListMultipartUploads.
extension S3Server {
    /// Bucket sub-resources this emulation does not keep (ACLs, policies, ...): S3 clients get
    /// a clear NotImplemented rather than a listing they would misread.
    static let unsupportedBucketResources: Set<String> = [
        "acl", "policy", "cors", "lifecycle", "tagging", "website", "logging", "notification", "replication", "encryption",
        "object-lock", "ownershipControls", "publicAccessBlock", "accelerate", "requestPayment", "analytics", "metrics",
        "inventory", "intelligent-tiering", "policyStatus",
    ]

    static let owner = "<Owner><ID>local-runner</ID><DisplayName>local-runner</DisplayName></Owner>"

    func listBuckets(_ store: ObjectStore) -> HTTPServer.Response {
        let buckets = store.listBuckets().map {
            "<Bucket>" + S3XML.element("Name", $0.name) + S3XML.element("CreationDate", HTTPDate.iso8601($0.created)) + "</Bucket>"
        }
        return Self.xml(S3XML.document("ListAllMyBucketsResult", [Self.owner, "<Buckets>" + buckets.joined() + "</Buckets>"]))
    }

    func bucketRequest(_ call: Call, _ store: ObjectStore) throws -> HTTPServer.Response {
        if let unsupported = call.query.keys.first(where: Self.unsupportedBucketResources.contains) {
            throw S3Error.notImplemented("?\(unsupported)")
        }
        let bucket = call.bucket
        switch call.request.method {
        case "PUT":
            guard try store.createBucket(bucket) else {
                throw S3Error(code: "BucketAlreadyOwnedByYou", status: 409,
                              message: "Your previous request to create the named bucket succeeded and you already own it.", details: ["BucketName": bucket])
            }
            return HTTPServer.Response(status: 200, headers: [("Location", "/\(bucket)")])
        case "HEAD":
            guard store.bucketExists(bucket) else { throw S3Error.noSuchBucket(bucket) }
            return HTTPServer.Response(status: 200, headers: [("x-amz-bucket-region", region)])
        case "DELETE":
            try store.deleteBucket(bucket)
            return HTTPServer.Response(status: 204)
        case "GET":
            guard store.bucketExists(bucket) else { throw S3Error.noSuchBucket(bucket) }
            if call.has("location") {
                // us-east-1 is written as an empty constraint, as S3 does.
                let text = region == "us-east-1" ? "" : S3XML.escape(region)
                return Self.xml(Data((S3XML.declaration + "<LocationConstraint xmlns=\"\(S3XML.namespace)\">\(text)</LocationConstraint>").utf8))
            }
            if call.has("versioning") { return Self.xml(S3XML.document("VersioningConfiguration", [])) }
            if call.has("uploads") { return try listUploads(call, store) }
            if call.has("versions") { throw S3Error.notImplemented("?versions") }
            return try listObjects(call, store)
        case "POST":
            if call.has("delete") { return try deleteObjects(call, store) }
            throw methodNotAllowed("POST", resource: "BUCKET", allow: "GET, PUT, HEAD, DELETE")
        default:
            throw methodNotAllowed(call.request.method, resource: "BUCKET", allow: "GET, PUT, HEAD, DELETE, POST")
        }
    }

    /// ListObjectsV2 (`list-type=2`: continuation tokens) and ListObjects (markers).
    func listObjects(_ call: Call, _ store: ObjectStore) throws -> HTTPServer.Response {
        let v2 = call.query["list-type"] == "2"
        let prefix = call.query["prefix"] ?? ""
        let delimiter = call.query["delimiter"] ?? ""
        let urlEncoded: Bool
        switch call.query["encoding-type"] {
        case nil: urlEncoded = false
        case "url": urlEncoded = true
        case let other?: throw S3Error.invalidArgument("Invalid Encoding Method specified in Request: \(other)")
        }
        var maxKeys = 1000
        if let text = call.query["max-keys"] {
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("Provided max-keys not an integer or within integer range") }
            maxKeys = min(value, 1000)
        }
        var marker: String?
        if v2 {
            if let token = call.query["continuation-token"] {
                guard let data = Data(base64Encoded: token), let decoded = String(data: data, encoding: .utf8) else {
                    throw S3Error.invalidArgument("The continuation token provided is incorrect")
                }
                marker = decoded
            } else {
                marker = call.query["start-after"]
            }
        } else {
            marker = call.query["marker"]
        }
        let page = ObjectListing.page(try store.list(bucket: call.bucket), prefix: prefix, delimiter: delimiter, after: marker, maxKeys: maxKeys)
        let encode = { (text: String) in urlEncoded ? SigV4.uriEncode(text, keepSlash: true) : text }

        var children = [S3XML.element("Name", call.bucket), S3XML.element("Prefix", encode(prefix))]
        if v2 {
            children.append(S3XML.element("KeyCount", String(page.contents.count + page.commonPrefixes.count)))
            if let token = call.query["continuation-token"] { children.append(S3XML.element("ContinuationToken", token)) }
            if let startAfter = call.query["start-after"] { children.append(S3XML.element("StartAfter", encode(startAfter))) }
            if page.isTruncated, let last = page.last {
                children.append(S3XML.element("NextContinuationToken", Data(last.utf8).base64EncodedString()))
            }
        } else {
            children.append(S3XML.element("Marker", encode(marker ?? "")))
            if page.isTruncated, let last = page.last { children.append(S3XML.element("NextMarker", encode(last))) }
        }
        children.append(S3XML.element("MaxKeys", String(maxKeys)))
        if !delimiter.isEmpty { children.append(S3XML.element("Delimiter", encode(delimiter))) }
        if urlEncoded { children.append(S3XML.element("EncodingType", "url")) }
        children.append(S3XML.element("IsTruncated", page.isTruncated ? "true" : "false"))
        for object in page.contents {
            var entry = "<Contents>" + S3XML.element("Key", encode(object.key)) + S3XML.element("LastModified", HTTPDate.iso8601(object.lastModified))
                + S3XML.element("ETag", object.quotedETag) + S3XML.element("Size", String(object.size))
            for algorithm in object.checksums.keys.sorted() { entry += S3XML.element("ChecksumAlgorithm", algorithm) }
            if let type = object.checksumType { entry += S3XML.element("ChecksumType", type) }
            entry += S3XML.element("StorageClass", "STANDARD")
            if !v2 || call.query["fetch-owner"] == "true" { entry += Self.owner }
            children.append(entry + "</Contents>")
        }
        for common in page.commonPrefixes { children.append("<CommonPrefixes>" + S3XML.element("Prefix", encode(common)) + "</CommonPrefixes>") }
        return Self.xml(S3XML.document("ListBucketResult", children))
    }

    /// DeleteObjects (POST ?delete): up to 1000 keys, each deleted or reported.
    func deleteObjects(_ call: Call, _ store: ObjectStore) throws -> HTTPServer.Response {
        try verifyContentMD5(call)
        let text = String(decoding: call.payload, as: UTF8.self)
        let objects = S3XML.elements("Object", in: text)
        guard !objects.isEmpty, objects.count <= 1000 else { throw S3Error.malformedXML() }
        let quiet = S3XML.text("Quiet", in: text)?.lowercased() == "true"
        var results: [String] = []
        for object in objects {
            guard let key = S3XML.text("Key", in: object) else { throw S3Error.malformedXML() }
            do {
                try S3Names.validateKey(key)
                try store.delete(bucket: call.bucket, key: key)
                if !quiet { results.append("<Deleted>" + S3XML.element("Key", key) + "</Deleted>") }
            } catch let error as S3Error {
                results.append("<Error>" + S3XML.element("Key", key) + S3XML.element("Code", error.code) + S3XML.element("Message", error.message) + "</Error>")
            }
        }
        return Self.xml(S3XML.document("DeleteResult", results))
    }

    func listUploads(_ call: Call, _ store: ObjectStore) throws -> HTTPServer.Response {
        let prefix = call.query["prefix"] ?? ""
        let uploads = try store.listUploads(bucket: call.bucket).filter { Array($0.key.utf8).starts(with: Array(prefix.utf8)) }
        var children = [S3XML.element("Bucket", call.bucket), S3XML.element("KeyMarker", ""), S3XML.element("UploadIdMarker", ""),
                        S3XML.element("Prefix", prefix), S3XML.element("MaxUploads", "1000"), S3XML.element("IsTruncated", "false")]
        for upload in uploads.prefix(1000) {
            children.append("<Upload>" + S3XML.element("Key", upload.key) + S3XML.element("UploadId", upload.uploadID)
                            + "<Initiator><ID>local-runner</ID><DisplayName>local-runner</DisplayName></Initiator>" + Self.owner
                            + S3XML.element("StorageClass", "STANDARD") + S3XML.element("Initiated", HTTPDate.iso8601(upload.initiated))
                            + (upload.checksumAlgorithm.map { S3XML.element("ChecksumAlgorithm", $0) } ?? "") + "</Upload>")
        }
        return Self.xml(S3XML.document("ListMultipartUploadsResult", children))
    }
}
