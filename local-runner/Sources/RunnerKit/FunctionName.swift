import Foundation

/// The FunctionName of a Lambda Invoke call, read as Lambda reads it: a name, `name:qualifier`,
/// a partial ARN (`account:function:name`) or a full ARN
/// (`arn:aws:lambda:region:account:function:name[:qualifier]`). The runner is one account in one
/// region and serves `$LATEST` only, so an ARN of another region or account, or another
/// qualifier, names a function that does not exist here.
struct FunctionName: Equatable {
    static let region = "us-east-1"
    static let account = "000000000000"

    var name: String
    var qualifier: String?

    static func arn(of name: String) -> String { "arn:aws:lambda:\(region):\(account):function:\(name)" }

    enum Problem: Error, Equatable {
        /// Lambda's ValidationException (400): not a function name at all.
        case invalid(String)
        /// Lambda's ResourceNotFoundException (404).
        case notFound(String)
    }

    /// `qualifier` is the `Qualifier` query parameter, if any.
    static func parse(_ text: String, qualifier query: String?) throws(Problem) -> FunctionName {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var name: String
        var qualifier: String?
        var region = Self.region, account = Self.account
        switch parts.count {
        case 1: name = parts[0]
        case 2: (name, qualifier) = (parts[0], parts[1])
        case 3 where parts[1] == "function": (account, name) = (parts[0], parts[2])
        case 4 where parts[1] == "function": (account, name, qualifier) = (parts[0], parts[2], parts[3])
        case 7 where parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function":
            (region, account, name) = (parts[3], parts[4], parts[6])
        case 8 where parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function":
            (region, account, name, qualifier) = (parts[3], parts[4], parts[6], parts[7])
        default: throw .invalid(validationMessage(text))
        }
        if parts.count >= 7 && !parts[1].hasPrefix("aws") { throw .invalid(validationMessage(text)) }
        guard isName(name), name.count <= 64, account.count == 12, account.allSatisfy(\.isNumber),
              qualifier.map({ $0 == "$LATEST" || ($0.count <= 128 && isName($0)) }) ?? true else {
            throw .invalid(validationMessage(text))
        }
        if let query {
            guard qualifier == nil || qualifier == query else { throw .invalid("The derived qualifier from the function name does not match the specified qualifier.") }
            qualifier = query
        }
        guard region == Self.region else { throw .notFound("Functions from '\(region)' are not reachable in this region ('\(Self.region)')") }
        guard account == Self.account, qualifier == nil || qualifier == "$LATEST" else {
            throw .notFound("Function not found: \(arn(of: name))\(qualifier.map { ":\($0)" } ?? "")")
        }
        return FunctionName(name: name, qualifier: qualifier)
    }

    private static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    private static func validationMessage(_ text: String) -> String {
        "1 validation error detected: Value '\(text.prefix(200))' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: "
            + "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
    }
}
