import Foundation
import Testing
@testable import RunnerKit

@Suite struct MetricsTests {
    func sample() -> Metrics {
        let metrics = Metrics()
        metrics.increment("api_requests_total", ["POST", "/predict/", "200"])
        metrics.increment("api_requests_total", ["POST", "/predict/", "200"])
        metrics.increment("api_requests_total", ["GET", "unmatched", "404"])
        metrics.observe("api_request_duration_seconds", ["POST", "/predict/"], 0.0012)
        metrics.observe("api_request_duration_seconds", ["POST", "/predict/"], 0.2)
        metrics.observe("function_duration_seconds", ["predict"], 0.001)
        metrics.set("drift_feature_score", ["rating \"value\""], 0.25)
        metrics.set("champion_model_version", [], 7)
        metrics.increment("training_runs_total", ["api"])
        return metrics
    }

    @Test func rendersTheTextFormat() {
        let text = sample().render()
        #expect(text.contains("# TYPE api_requests_total counter\n"))
        #expect(text.contains(#"api_requests_total{method="POST",endpoint="/predict/",status="200"} 2"#))
        #expect(text.contains(#"api_request_duration_seconds_bucket{method="POST",endpoint="/predict/",le="0.0025"} 1"#))
        #expect(text.contains(#"api_request_duration_seconds_bucket{method="POST",endpoint="/predict/",le="+Inf"} 2"#))
        #expect(text.contains(#"api_request_duration_seconds_count{method="POST",endpoint="/predict/"} 2"#))
        #expect(text.contains(#"drift_feature_score{feature="rating \"value\""} 0.25"#))
        #expect(text.contains("champion_model_version 7\n"))
        #expect(text.contains("recommendations_total 0\n"), "an unlabelled counter exists from the start")
        #expect(text.contains("data_drift_detected 0\n"))
    }

    /// Buckets are cumulative: each holds every observation at or below its bound.
    @Test func histogramBucketsAreCumulative() {
        let metrics = Metrics()
        for value in [0.0005, 0.003, 0.003, 0.7, 100] { metrics.observe("function_duration_seconds", ["train"], value) }
        let lines = metrics.render().split(separator: "\n").filter { $0.hasPrefix("function_duration_seconds_bucket") }
        let counts = lines.compactMap { Double($0.split(separator: " ").last ?? "") }
        #expect(counts == counts.sorted(), "bucket counts must not decrease")
        #expect(counts.last == 5)
        #expect(lines.contains { $0.contains(#"le="0.001""#) && $0.hasSuffix(" 1") })
        #expect(lines.contains { $0.contains(#"le="1""#) && $0.hasSuffix(" 4") })
    }

    /// Debian's promtool lints the exposition: names, suffixes, help, types.
    @Test func promtoolAcceptsTheExposition() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            Issue.record("promtool is missing: Tests/run installs Debian's prometheus package")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(sample().render().utf8))
        try input.fileHandleForWriting.close()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "promtool: \(report)")
        #expect(report.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(report)")
    }
}
