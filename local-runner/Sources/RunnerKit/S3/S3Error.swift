import Foundation

/// An S3 error answer: the code clients switch on, its HTTP status, a message for people.
struct S3Error: Error, Equatable, CustomStringConvertible {
    var code: String
    var status: Int
    var message: String
    /// Extra elements S3 adds for some codes (BucketName, Key, Method...).
    var details: [String: String] = [:]

    var description: String { "\(code) (\(status)): \(message)" }

    static func accessDenied(_ message: String = "Access Denied") -> S3Error { S3Error(code: "AccessDenied", status: 403, message: message) }
    static func signatureDoesNotMatch(_ message: String = "The request signature we calculated does not match the signature you provided. Check your key and signing method.") -> S3Error {
        S3Error(code: "SignatureDoesNotMatch", status: 403, message: message)
    }
    static func invalidAccessKeyID(_ key: String) -> S3Error {
        S3Error(code: "InvalidAccessKeyId", status: 403, message: "The AWS Access Key Id you provided does not exist in our records.", details: ["AWSAccessKeyId": key])
    }
    static func noSuchBucket(_ bucket: String) -> S3Error {
        S3Error(code: "NoSuchBucket", status: 404, message: "The specified bucket does not exist", details: ["BucketName": bucket])
    }
    static func noSuchKey(_ key: String) -> S3Error { S3Error(code: "NoSuchKey", status: 404, message: "The specified key does not exist.", details: ["Key": key]) }
    static func noSuchUpload(_ id: String) -> S3Error {
        S3Error(code: "NoSuchUpload", status: 404, message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", details: ["UploadId": id])
    }
    static func invalidArgument(_ message: String) -> S3Error { S3Error(code: "InvalidArgument", status: 400, message: message) }
    static func invalidRequest(_ message: String) -> S3Error { S3Error(code: "InvalidRequest", status: 400, message: message) }
    static func malformedXML() -> S3Error {
        S3Error(code: "MalformedXML", status: 400, message: "The XML you provided was not well-formed or did not validate against our published schema.")
    }
    static func badDigest(_ message: String) -> S3Error { S3Error(code: "BadDigest", status: 400, message: message) }
    static func notImplemented(_ what: String) -> S3Error {
        S3Error(code: "NotImplemented", status: 501, message: "A header or query you provided implies functionality that is not implemented: \(what)")
    }
    static func internalError(_ message: String) -> S3Error { S3Error(code: "InternalError", status: 500, message: message) }
}
