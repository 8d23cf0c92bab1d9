/// MLflow's tracking and model-registry REST API (`/api/2.0/mlflow/...`) over libcurl: only the
/// calls that mirroring a training run needs. Every call has a short timeout, because the
/// tracking server is a mirror: training must never wait long on it.
struct MLflowClient {
    /// The tracking URI, e.g. `http://127.0.0.1:5000`.
    let base: String
    var timeout: Double = 10
    private let http = HTTPClient()
    /// For `s3://` artifact roots (a server without the artifact proxy): `MLFLOW_S3_ENDPOINT_URL`.
    var s3: (() throws(FunctionError) -> S3Client)?

    init(trackingURI: String, s3: (() throws(FunctionError) -> S3Client)? = nil) {
        var base = trackingURI
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
        self.s3 = s3
    }

    struct Run { var id: String; var artifactURI: String }

    // MARK: experiments and runs

    func experimentID(named name: String) throws(FunctionError) -> String {
        let (status, found) = try call("GET", "experiments/get-by-name", query: ["experiment_name": name], allowing: [404])
        if status == 200, let id = found["experiment"]?["experiment_id"]?.stringValue { return id }
        let created = try call("POST", "experiments/create", ["name": .string(name)]).1
        guard let id = created["experiment_id"]?.stringValue else { throw unexpected("experiments/create", created) }
        return id
    }

    func createRun(experimentID: String, name: String, startTime: Int64, tags: [String: String]) throws(FunctionError) -> Run {
        let answer = try call("POST", "runs/create", [
            "experiment_id": .string(experimentID), "run_name": .string(name), "start_time": .number(Double(startTime)),
            "tags": .array(tags.sorted { $0.key < $1.key }.map { .object(["key": .string($0.key), "value": .string($0.value)]) }),
        ]).1
        guard let info = answer["run"]?["info"], let id = info["run_id"]?.stringValue, let uri = info["artifact_uri"]?.stringValue else {
            throw unexpected("runs/create", answer)
        }
        return Run(id: id, artifactURI: uri)
    }

    struct Metric { var key: String; var value: Double; var step: Int = 0 }

    /// Params, metrics and tags in batches within MLflow's limits (100 params, 1000 metrics).
    func logBatch(runID: String, params: [String: String] = [:], metrics: [Metric] = [], tags: [String: String] = [:], timestamp: Int64) throws(FunctionError) {
        let paramList = params.sorted { $0.key < $1.key }.map { JSONValue.object(["key": .string($0.key), "value": .string(String($0.value.prefix(6000)))]) }
        let metricList = metrics.filter { $0.value.isFinite }.map {
            JSONValue.object(["key": .string($0.key), "value": .number($0.value), "timestamp": .number(Double(timestamp)), "step": .number(Double($0.step))])
        }
        let tagList = tags.sorted { $0.key < $1.key }.map { JSONValue.object(["key": .string($0.key), "value": .string($0.value)]) }
        var start = 0
        repeat {
            let body: [String: JSONValue] = [
                "run_id": .string(runID),
                "params": .array(Array(paramList.dropFirst(start * 100).prefix(100))),
                "metrics": .array(Array(metricList.dropFirst(start * 1000).prefix(1000))),
                "tags": .array(start == 0 ? tagList : []),
            ]
            _ = try call("POST", "runs/log-batch", body)
            start += 1
        } while start * 100 < paramList.count || start * 1000 < metricList.count
    }

    func finishRun(_ runID: String, endTime: Int64, status: String = "FINISHED") throws(FunctionError) {
        _ = try call("POST", "runs/update", ["run_id": .string(runID), "status": .string(status), "end_time": .number(Double(endTime))])
    }

    /// Ids of the active runs matching an MLflow filter, e.g. ``tags.`movierec.run_id` = 'x'``.
    func searchRuns(experimentID: String, filter: String) throws(FunctionError) -> [String] {
        let answer = try call("POST", "runs/search", ["experiment_ids": .array([.string(experimentID)]), "filter": .string(filter),
                                                      "max_results": .number(1000)]).1
        return (answer["runs"]?.arrayValue ?? []).compactMap { $0["info"]?["run_id"]?.stringValue }
    }

    func deleteRun(_ runID: String) throws(FunctionError) {
        _ = try call("POST", "runs/delete", ["run_id": .string(runID)])
    }

    // MARK: artifacts

    /// Writes one artifact under the run's artifact URI: through the server's artifact proxy
    /// (`mlflow-artifacts:/...`) or straight to its S3 root (`s3://...`).
    func uploadArtifact(_ data: Data, run: Run, path: String, contentType: String) throws(FunctionError) {
        if run.artifactURI.hasPrefix("mlflow-artifacts:") {
            var rest = String(run.artifactURI.dropFirst("mlflow-artifacts:".count))
            // "mlflow-artifacts:/1/abc/artifacts" or "mlflow-artifacts://host:port/1/abc/artifacts"
            if rest.hasPrefix("//") { rest = String(rest.dropFirst(2).drop { $0 != "/" }) }
            while rest.hasPrefix("/") { rest.removeFirst() }
            let url = "\(base)/api/2.0/mlflow-artifacts/artifacts/\(rest)/\(path)"
            let response = try http.send("PUT", url: url, headers: ["Content-Type": contentType], body: .bytes(data), timeout: max(timeout, 60))
            guard (200..<300).contains(response.status) else { throw refused("PUT artifact \(path)", response) }
        } else if run.artifactURI.hasPrefix("s3://") {
            guard let s3 else { throw FunctionError.dependencyDown("the MLflow run's artifacts go to \(run.artifactURI), and no S3 client is configured") }
            let (bucket, prefix) = try S3Client.parse(url: run.artifactURI)
            try s3().put(data, bucket: bucket, key: (prefix.isEmpty ? "" : prefix + "/") + path, contentType: contentType)
        } else {
            throw FunctionError.dependencyDown("the MLflow run's artifact location \(run.artifactURI) is neither mlflow-artifacts: nor s3://; start the server with --serve-artifacts or an s3:// artifact root")
        }
    }

    // MARK: the model registry

    func ensureRegisteredModel(_ name: String, description: String) throws(FunctionError) {
        let (status, answer) = try call("POST", "registered-models/create", ["name": .string(name), "description": .string(description)], allowing: [400])
        if status == 400, answer["error_code"]?.stringValue != "RESOURCE_ALREADY_EXISTS" { throw unexpected("registered-models/create", answer) }
    }

    func createModelVersion(name: String, source: String, runID: String, tags: [String: String], description: String) throws(FunctionError) -> String {
        let answer = try call("POST", "model-versions/create", [
            "name": .string(name), "source": .string(source), "run_id": .string(runID), "description": .string(description),
            "tags": .array(tags.sorted { $0.key < $1.key }.map { .object(["key": .string($0.key), "value": .string($0.value)]) }),
        ]).1
        guard let version = answer["model_version"]?["version"]?.stringValue else { throw unexpected("model-versions/create", answer) }
        return version
    }

    /// Versions of `name` created from this MLflow run.
    func modelVersions(name: String, runID: String) throws(FunctionError) -> [String] {
        let answer = try call("GET", "model-versions/search", query: ["filter": "name='\(name)' and run_id='\(runID)'"]).1
        return (answer["model_versions"]?.arrayValue ?? []).compactMap { $0["version"]?.stringValue }
    }

    func deleteModelVersion(name: String, version: String) throws(FunctionError) {
        _ = try call("DELETE", "model-versions/delete", ["name": .string(name), "version": .string(version)])
    }

    func setAlias(name: String, alias: String, version: String) throws(FunctionError) {
        _ = try call("POST", "registered-models/alias", ["name": .string(name), "alias": .string(alias), "version": .string(version)])
    }

    // MARK: plumbing

    private func call(_ method: String, _ endpoint: String, _ body: [String: JSONValue]? = nil, query: [String: String] = [:],
                      allowing: Set<Int> = []) throws(FunctionError) -> (Int, JSONValue) {
        var url = "\(base)/api/2.0/mlflow/\(endpoint)"
        if !query.isEmpty {
            url += "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\(percentEncode($0.value))" }.joined(separator: "&")
        }
        let response = try http.send(method, url: url, headers: ["Content-Type": "application/json"],
                                     body: body.map { .bytes(Data(JSON.encodeString(JSONValue.object($0)).utf8)) } ?? .none, timeout: timeout)
        let document = (try? JSONDecoder().decode(JSONValue.self, from: response.body)) ?? .null
        guard (200..<300).contains(response.status) || allowing.contains(response.status) else { throw refused(endpoint, response) }
        return (response.status, document)
    }

    private func refused(_ what: String, _ response: HTTPClient.Response) -> FunctionError {
        let document = (try? JSONDecoder().decode(JSONValue.self, from: response.body)) ?? .null
        let reason = document["message"]?.stringValue ?? String(decoding: response.body.prefix(300), as: UTF8.self)
        return FunctionError.dependencyDown("MLflow \(what) answered HTTP \(response.status): \(reason)")
    }

    private func unexpected(_ what: String, _ document: JSONValue) -> FunctionError {
        FunctionError.dependencyDown("MLflow \(what) answered something unexpected: \(JSON.encodeString(document).prefix(300))")
    }
}
