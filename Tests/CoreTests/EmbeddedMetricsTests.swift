import Foundation
import Testing
@testable import Core

/// The functions' CloudWatch Embedded Metric Format lines, checked against the format's
/// specification: what CloudWatch Logs requires before it extracts a single metric.
@Suite struct EmbeddedMetricsTests {
    /// Every rule of the specification's root, directive and definition objects; returns the
    /// violations (none for a valid document).
    static func violations(_ document: JSONValue) -> [String] {
        guard case .object(let root) = document else { return ["the root is not an object"] }
        guard case .object(let aws)? = root["_aws"] else { return ["no _aws object"] }
        var problems: [String] = []
        if case .number(let timestamp)? = aws["Timestamp"] {
            if timestamp < 1e12 || timestamp != timestamp.rounded() { problems.append("Timestamp is not whole epoch milliseconds: \(timestamp)") }
        } else { problems.append("_aws.Timestamp is not a number") }
        guard case .array(let directives)? = aws["CloudWatchMetrics"], !directives.isEmpty else { return problems + ["no CloudWatchMetrics array"] }
        let units: Set<String> = ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
                                  "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
                                  "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
                                  "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"]
        for case .object(let directive) in directives {
            guard case .string(let namespace)? = directive["Namespace"], (1...255).contains(namespace.count) else { problems.append("bad Namespace"); continue }
            guard case .array(let sets)? = directive["Dimensions"] else { problems.append("no Dimensions"); continue }
            for case .array(let set) in sets {
                if set.count > 30 { problems.append("a dimension set of \(set.count) (at most 30)") }
                for case .string(let key) in set where root[key]?.stringValue == nil { problems.append("dimension \(key) is not a top-level string") }
            }
            guard case .array(let metrics)? = directive["Metrics"], (1...100).contains(metrics.count) else { problems.append("no Metrics, or over 100"); continue }
            for case .object(let metric) in metrics {
                guard case .string(let name)? = metric["Name"], (1...255).contains(name.count) else { problems.append("a metric without a Name"); continue }
                if let unit = metric["Unit"], !units.contains(unit.stringValue ?? "") { problems.append("\(name): unknown unit \(unit)") }
                switch root[name] {
                case .number?: break
                case .array(let values)?: if values.count > 100 || values.contains(where: { if case .number = $0 { false } else { true } }) { problems.append("\(name): bad values") }
                default: problems.append("metric \(name) has no top-level numeric value")
                }
            }
        }
        return problems
    }

    @Test func documentsFollowTheSpecification() {
        let documents = EmbeddedMetrics.documents(
            function: "drift", route: "GET /monitoring/drift", status: 200, milliseconds: 12.5,
            metrics: [EmbeddedMetric("DriftDetected", 1, unit: .none),
                      EmbeddedMetric("DriftScore", 0.4, unit: .none, dimensions: ["Feature": "rating"]),
                      EmbeddedMetric("DriftScore", 0.01, unit: .none, dimensions: ["Feature": "genre"])],
            fields: ["request_id": .string("r-1")])
        // The invocation's own metrics with the handler's undimensioned ones, then one per feature.
        #expect(documents.count == 3)
        for document in documents { #expect(Self.violations(document) == [], "\(document)") }
        #expect(documents[0]["Requests"] == .number(1))
        #expect(documents[0]["DriftDetected"] == .number(1))
        #expect(documents[0]["request_id"] == .string("r-1"))
        #expect(documents[1]["Feature"] == .string("rating"))
        #expect(documents[1]["_aws"]?["CloudWatchMetrics"]?.array?.first?["Dimensions"]
                == .array([.array([.string("Function"), .string("Feature")]), .array([.string("Function"), .string("Route"), .string("Feature")])]))
        #expect(documents[2]["DriftScore"] == .number(0.01))
        #expect(documents[2]["request_id"] == nil)
    }

    @Test func directActionsAreBoundedDimensions() {
        #expect(EmbeddedMetrics.route(of: .direct(Data(#"{"action": "stats"}"#.utf8))) == "action:stats")
        #expect(EmbeddedMetrics.route(of: .direct(Data(#"{"action": "x\u0000 or something long"}"#.utf8))) == "action:other")
        #expect(EmbeddedMetrics.route(of: .direct(Data("{}".utf8))) == "action:default")
    }

    /// The ingest executable under the Runtime API writes one valid document per invocation.
    @Test func theRuntimeLoopWritesADocumentPerInvocation() throws {
        let url = try TestServices.makeDatabase()
        let database = try Database(url: url)
        try Migrations.apply(to: database)
        _ = try DatasetImporter.run(ImportRequest(source: try TinyDataset().write()), database: database, storage: nil)
        let stub = try RuntimeAPIStub()
        stub.enqueue(id: "req-1", event: #"{"action": "stats"}"#)
        stub.enqueue(id: "req-2", event: apiGatewayEvent("GET", "/stats"))
        stub.enqueue(id: "req-3", event: apiGatewayEvent("GET", "/stats", query: ["nope": "1"]))
        let (process, _, _, errors) = try FunctionProcess.launch("ingest", environment: ["DATABASE_URL": url, "AWS_LAMBDA_RUNTIME_API": stub.address])
        #expect(stub.posted(count: 3).count == 3)
        usleep(200_000)  // the line follows the posted answer
        process.terminate()
        process.waitUntilExit()
        let lines = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        let documents = lines.compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }.filter { $0["_aws"] != nil }
        #expect(documents.count == 3)
        for document in documents {
            #expect(Self.violations(document) == [], "\(document)")
            #expect(document["Function"] == .string("ingest"))
            #expect(document["_aws"]?["CloudWatchMetrics"]?.array?.first?["Namespace"] == .string("MovieRec"))
        }
        #expect(documents.map { $0["Route"]?.stringValue } == ["action:stats", "GET /stats", "GET /stats"])
        #expect(documents.map { $0["StatusCode"] } == [.number(200), .number(200), .number(400)])
        #expect(documents.map { $0["ClientErrors"] } == [.number(0), .number(0), .number(1)])
        #expect(documents.map { $0["request_id"]?.stringValue } == ["req-1", "req-2", "req-3"])
    }
}
