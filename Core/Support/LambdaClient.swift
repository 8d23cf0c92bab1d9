#if canImport(Glibc)
import Glibc
#endif

/// The Lambda Invoke API over libcurl with SigV4, as the AWS SDKs call it: the train function
/// hands a queued run to itself with InvocationType `Event`, because an HTTP API cannot invoke
/// an integration asynchronously (`X-Amz-Invocation-Type` is reserved there).
public struct LambdaClient: Sendable {
    /// `AWS_ENDPOINT_URL_LAMBDA` (the SDKs' override; the local runner sets it to its gateway),
    /// else the regional endpoint.
    public var endpoint: String
    public var signing: HTTPClient.AWSSigning

    public init(endpoint: String, signing: HTTPClient.AWSSigning) {
        var trimmed = endpoint
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.endpoint = trimmed
        self.signing = signing
    }

    public static func fromEnvironment() throws(FunctionError) -> LambdaClient {
        let region = environment("AWS_REGION") ?? environment("AWS_DEFAULT_REGION") ?? "us-east-1"
        guard let key = environment("AWS_ACCESS_KEY_ID"), let secret = environment("AWS_SECRET_ACCESS_KEY") else {
            throw FunctionError.dependencyDown("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to call the Lambda Invoke API")
        }
        return LambdaClient(endpoint: environment("AWS_ENDPOINT_URL_LAMBDA") ?? "https://lambda.\(region).amazonaws.com",
                            signing: .init(accessKey: key, secretKey: secret, region: region, service: "lambda",
                                           sessionToken: environment("AWS_SESSION_TOKEN")))
    }

    /// Queues `payload` for `function` (InvocationType Event): Lambda answers 202 and runs it later.
    public func invokeAsynchronously(_ function: String, payload: Data) throws(FunctionError) {
        let url = "\(endpoint)/2015-03-31/functions/\(function)/invocations"
        let response = try HTTPClient().send("POST", url: url, headers: ["Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"],
                                             body: .bytes(payload), timeout: 10, signing: signing)
        guard response.status == 202 else {
            let object = try? JSONDecoder().decode([String: JSONValue].self, from: response.body)
            let message = object?["message"]?.stringValue ?? object?["Message"]?.stringValue ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            throw FunctionError.dependencyDown("the Lambda Invoke API refused to queue \(function) (HTTP \(response.status)\(response.header("x-amzn-errortype").map { ", \($0)" } ?? "")): \(message)")
        }
    }
}
