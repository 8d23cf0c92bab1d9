import Foundation

/// First start on an empty database: import the user's dataset (--dataset, a name or a
/// directory), a synthetic MovieLens-format demo (--demo-ratings), or by default ml-latest-small
/// (the demo when it cannot be downloaded), train a first champion and set the drift baseline, all through the
/// functions themselves, so the system that then serves is the one that was set up.
struct Bootstrap {
    let gateway: Gateway
    let options: Options
    let dataDirectory: URL
    /// Container workers read no local directory: the demo dataset goes through this bucket.
    var demoBucket: String? = nil

    func run() throws {
        var ratings = try count()
        if ratings == 0 {
            if let name = options.datasetName {
                try importNamed(name)
            } else if let dataset = options.dataset {
                try importDirectory(dataset)
            } else if options.demoRatingsGiven {
                try importDemo()
            } else {
                // The default: real MovieLens, the small dataset; offline, the synthetic demo.
                do { try importNamed(Options.defaultDataset) } catch {
                    LocalRunner.say("\(error)")
                    LocalRunner.say("could not import \(Options.defaultDataset): importing the synthetic demo instead (--demo-ratings N chooses it at once)")
                    try importDemo()
                }
            }
            ratings = try count()
        }
        guard ratings > 0 else {
            LocalRunner.say("the database has no ratings: import some (POST /ingest) before training")
            return
        }
        let models = try call("train", ["action": "models"])
        if models["champion"] == nil || models["champion"] is NSNull {
            LocalRunner.say("no champion model yet: training NormalPredictor, SVD and KNNBasic on \(ratings) ratings")
            gateway.metrics.increment("training_runs_total", ["startup"])
            let run = try call("train", ["action": "train", "force": true])
            let decision = (run["decision"] as? [String: Any])?["reason"] as? String ?? ""
            LocalRunner.say("champion: \(run["best"] ?? "?") version \(run["model_version"] ?? "?") (\(decision))")
            _ = try call("drift", ["action": "set_baseline"])
            LocalRunner.say("drift baseline set from the imported ratings")
        }
        gateway.refreshChampion()
    }

    private func importNamed(_ name: String) throws {
        LocalRunner.say("empty database: downloading and importing MovieLens \(name) from GroupLens")
        let result = try call("ingest", ["action": "import", "dataset": name])
        LocalRunner.say("imported \(name) from \(result["source"] ?? "GroupLens")")
    }

    private func importDirectory(_ dataset: String) throws {
        if dataset.hasPrefix("s3://") {
            LocalRunner.say("empty database: importing \(dataset)")
            _ = try call("ingest", ["action": "import", "source": dataset])
            return
        }
        guard demoBucket == nil else {
            throw RunnerError("--containers: container workers read no local directory; put the dataset in S3 and import it (POST /ingest {\"source\": \"s3://...\"})")
        }
        let source = URL(fileURLWithPath: dataset).standardizedFileURL.path
        LocalRunner.say("empty database: importing \(source)")
        let result = try call("ingest", ["action": "import", "source": source])
        LocalRunner.say("imported \(result["ratings"] ?? result["rows"] ?? "the dataset")")
    }

    private func importDemo() throws {
        guard options.demoRatings > 0 else { return }
        if let demoBucket {
            let prefix = "s3://\(demoBucket)/datasets/demo-\(options.demoRatings)-\(UUID().uuidString.prefix(8).lowercased())/"
            LocalRunner.say("empty database: synthesizing a \(options.demoRatings)-rating demo dataset into \(prefix)")
            _ = try call("ingest", ["action": "synthesize", "output": prefix, "ratings": options.demoRatings, "seed": 1])
            _ = try call("ingest", ["action": "import", "source": prefix, "dataset": "synthetic-demo"])
            return
        }
        let folder = dataDirectory.appendingPathComponent("demo-dataset-\(options.demoRatings)")
        let complete = folder.appendingPathComponent(".complete")
        if !FileManager.default.fileExists(atPath: complete.path) {
            // An earlier start stopped half-way: synthesize writes only a new directory.
            try? FileManager.default.removeItem(at: folder)
            LocalRunner.say("empty database: synthesizing a \(options.demoRatings)-rating MovieLens-format demo dataset")
            _ = try call("ingest", ["action": "synthesize", "output": folder.path, "ratings": options.demoRatings, "seed": 1])
            _ = FileManager.default.createFile(atPath: complete.path, contents: nil)
        }
        LocalRunner.say("importing the demo dataset")
        _ = try call("ingest", ["action": "import", "source": folder.path, "dataset": "synthetic-demo"])
    }

    func count() throws -> Int {
        let stats = try call("ingest", ["action": "stats"])
        return stats["ratings"] as? Int ?? 0
    }

    /// Invokes a function and returns its JSON answer, or throws its error in words.
    func call(_ name: String, _ event: [String: Any]) throws -> [String: Any] {
        guard let function = gateway.template.function(named: name) else { throw RunnerError("the template has no \(name) function") }
        let payload = try JSONSerialization.data(withJSONObject: event)
        switch gateway.invoke(function, payload, id: UUID().uuidString.lowercased(), queueTimeout: function.timeout) {
        case .response(let data):
            return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        case .functionError(let data, _):
            let document = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            let message = document?["errorMessage"] as? String ?? String(decoding: data.prefix(500), as: UTF8.self)
            throw RunnerError("\(name) \(event["action"] ?? ""): \(message)")
        case .crashed(let reason): throw RunnerError("\(name) \(event["action"] ?? ""): \(reason)")
        case .timedOut: throw RunnerError("\(name) \(event["action"] ?? ""): timed out after \(function.timeout) s")
        case .throttled: throw RunnerError("\(name) \(event["action"] ?? ""): the function is busy")
        }
    }
}
