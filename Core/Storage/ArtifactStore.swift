/// The artifact bucket (`ARTIFACT_BUCKET`) behind the S3 client: models, metrics, reports.
public struct ArtifactStore {
    public let client: S3Client
    public let bucket: String

    public init(client: S3Client, bucket: String) { self.client = client; self.bucket = bucket }

    public static func fromEnvironment() throws(FunctionError) -> ArtifactStore {
        guard let bucket = environment("ARTIFACT_BUCKET") else {
            throw FunctionError.dependencyDown("ARTIFACT_BUCKET is not set; name the S3 bucket that holds models and reports")
        }
        try S3Client.validateBucket(bucket)
        return ArtifactStore(client: try S3Client.fromEnvironment(), bucket: bucket)
    }

    public func put(_ data: Data, key: String, contentType: String) throws(FunctionError) {
        try client.put(data, bucket: bucket, key: key, contentType: contentType)
    }

    public func get(_ key: String) throws(FunctionError) -> Data { try client.get(bucket: bucket, key: key) }

    public func url(_ key: String) -> String { "s3://\(bucket)/\(key)" }
}
