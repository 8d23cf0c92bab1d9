import Foundation
import Testing
@testable import Core

/// The template's HTTP routes are exactly the routes the functions answer.
@Suite struct TemplateTests {
    @Test func templateRoutesMatchTheFunctionRouters() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("Tests/support/check-template.py").path,
                             root.appendingPathComponent("template/template.yaml").path, "--routes"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let template = try JSONDecoder().decode([String: [String]].self, from: data)
        func keys<A>(_ router: Router<A>) -> [String] { router.routes.map { "\($0.method) \($0.path)" }.sorted() }
        func normalised(_ routes: [String]?) -> [String] {
            (routes ?? []).map { route in
                let parts = route.split(separator: " ", maxSplits: 1)
                return "\(parts[0]) \(Router<Int>.normalise(String(parts[1])))"
            }.sorted()
        }
        #expect(normalised(template["IngestFunction"]) == keys(IngestFunction.routes))
        #expect(normalised(template["TrainFunction"]) == keys(TrainFunction.routes))
        #expect(normalised(template["PredictFunction"]) == keys(PredictFunction.routes))
        #expect(normalised(template["DriftFunction"]) == keys(DriftFunction.routes))
    }
}
