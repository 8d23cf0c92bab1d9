import Testing
@testable import RunnerKit

/// FunctionName as Lambda reads it: one region, one account, `$LATEST` only.
@Suite struct FunctionNameTests {
    @Test func namesAndARNsOfThisAccountResolve() throws {
        #expect(try FunctionName.parse("IngestFunction", qualifier: nil).name == "IngestFunction")
        #expect(try FunctionName.parse("IngestFunction:$LATEST", qualifier: nil).qualifier == "$LATEST")
        #expect(try FunctionName.parse("000000000000:function:IngestFunction", qualifier: nil).name == "IngestFunction")
        #expect(try FunctionName.parse("arn:aws:lambda:us-east-1:000000000000:function:IngestFunction", qualifier: "$LATEST").name == "IngestFunction")
    }

    @Test func everythingElseIsRefusedAsLambdaRefusesIt() {
        func problem(_ text: String, _ qualifier: String? = nil) -> FunctionName.Problem? {
            do { _ = try FunctionName.parse(text, qualifier: qualifier); return nil } catch { return error }
        }
        #expect(problem("ingest:foo:bar").map { if case .invalid = $0 { true } else { false } } == true)
        #expect(problem("in gest").map { if case .invalid = $0 { true } else { false } } == true)
        #expect(problem("IngestFunction:1").map { if case .notFound = $0 { true } else { false } } == true)
        #expect(problem("IngestFunction", "live").map { if case .notFound = $0 { true } else { false } } == true)
        #expect(problem("arn:aws:lambda:eu-west-1:000000000000:function:IngestFunction") == .notFound("Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"))
        #expect(problem("arn:aws:lambda:us-east-1:123456789012:function:IngestFunction").map { if case .notFound = $0 { true } else { false } } == true)
        #expect(problem("IngestFunction:$LATEST", "other").map { if case .invalid = $0 { true } else { false } } == true)
    }
}
