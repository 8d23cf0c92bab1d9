import Foundation

/// The HTTP side of the runner: the template's routes as API Gateway HTTP API (payload 2.0)
/// would serve them, the Lambda Invoke API, and the runner's own `/health`.
final class Gateway: @unchecked Sendable {
    let template: Template
    let pools: [String: WorkerPool]
    var cold: [String: ColdInvoker]?
    let metrics: Metrics
    var scheduler: Scheduler?
    /// Extra checks for `/health` (storage), by dependency name.
    var healthChecks: [String: () -> String] = [:]
    /// The operator UI and API docs (`/`, `/ui/...`, `/openapi.json`, `/docs`); see StaticSite.
    var uiDirectory = "local-runner/ui"
    private let background = DispatchQueue(label: "event-invocations", attributes: .concurrent)
    private let inFlightLock = NSLock()
    private var inFlight = 0

    init(template: Template, pools: [String: WorkerPool], cold: [String: ColdInvoker]?, metrics: Metrics = Metrics()) {
        self.template = template
        self.pools = pools
        self.cold = cold
        self.metrics = metrics
    }

    /// Requests being answered now (a clean stop waits for them).
    var requestsInFlight: Int {
        inFlightLock.lock(); defer { inFlightLock.unlock() }
        return inFlight
    }

    func handle(_ request: HTTPServer.Request) -> HTTPServer.Response {
        let started = DispatchTime.now().uptimeNanoseconds
        inFlightLock.lock(); inFlight += 1; inFlightLock.unlock()
        defer { inFlightLock.lock(); inFlight -= 1; inFlightLock.unlock() }
        var (response, endpoint) = refusal(request).map { ($0, "refused") } ?? dispatch(request)
        if !response.headers.contains(where: { $0.0 == "x-amzn-RequestId" }) {
            response.headers.append(("x-amzn-RequestId", UUID().uuidString.lowercased()))
        }
        if let origin = request.header("origin"), template.cors.origins.contains(origin) {
            response.headers.append(("Access-Control-Allow-Origin", origin))
        }
        // Label values stay bounded whatever clients send: the route template, never the raw
        // path, and unknown methods count as OTHER.
        let method = Self.knownMethods.contains(request.method) ? request.method : "OTHER"
        metrics.increment("api_requests_total", [method, endpoint, String(response.status)])
        metrics.observe("api_request_duration_seconds", [method, endpoint], Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        return response
    }

    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// Hosts the runner answers to (its loopback names), or nil to accept any (bound elsewhere
    /// on purpose). A page on another site that resolves its own name to 127.0.0.1 (DNS
    /// rebinding) sends its own Host and is refused.
    var allowedHosts: Set<String>? = ["127.0.0.1", "localhost", "[::1]"]

    /// 403 for requests a web page elsewhere could make the user's browser send: a foreign Host,
    /// or a state-changing request from an origin that is neither this runner nor one the
    /// template's CORS configuration allows. (Browsers send text/plain POSTs cross-site without
    /// a preflight, so CORS headers alone would not stop them.)
    func refusal(_ request: HTTPServer.Request) -> HTTPServer.Response? {
        let host = request.header("host")
        if let allowedHosts, let host {
            let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }) + "]" : String(host.split(separator: ":").first ?? "")
            if !allowedHosts.contains(name.lowercased()) {
                return .json(403, ["message": "Forbidden: this runner answers to 127.0.0.1 and localhost, not \(host)"])
            }
        }
        guard !["GET", "HEAD", "OPTIONS"].contains(request.method), let origin = request.header("origin") else { return nil }
        if template.cors.origins.contains(origin) || host.map({ origin == "http://\($0)" }) == true { return nil }
        return .json(403, ["message": "Forbidden: cross-site \(request.method) from \(origin)"])
    }

    private var background_ = 0
    static let backgroundLimit = 64

    /// Event invocations waiting or running; beyond the limit callers get 429 rather than
    /// tying up every dispatch thread.
    func startBackground() -> Bool {
        inFlightLock.lock(); defer { inFlightLock.unlock() }
        guard background_ < Self.backgroundLimit else { return false }
        background_ += 1
        return true
    }

    func endBackground() {
        inFlightLock.lock(); background_ -= 1; inFlightLock.unlock()
    }

    /// The response and the endpoint label it is counted under.
    func dispatch(_ request: HTTPServer.Request) -> (HTTPServer.Response, String) {
        if request.path.hasPrefix("/2015-03-31/functions/") {
            return (invokeAPI(request), "/2015-03-31/functions/{name}/invocations")
        }
        if let answer = runnerRoute(request) { return answer }
        if let page = StaticSite(directory: uiDirectory).handle(request) {
            // Few, fixed labels: the UI's files count under one endpoint.
            let path = normalised(request.path)
            return (page, ["/", "/openapi.json", "/docs"].contains(path) ? path : "/ui/{file}")
        }
        return route(request)
    }

    // MARK: the runner's own routes

    func runnerRoute(_ request: HTTPServer.Request) -> (HTTPServer.Response, String)? {
        let path = normalised(request.path)
        switch (request.method, path) {
        case ("GET", "/health"): return (health(), "/health")
        case ("GET", "/metrics"):
            return (HTTPServer.Response(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Data(metrics.render().utf8)), "/metrics")
        case ("GET", "/schedules"):
            return (.json(200, ["schedules": scheduler?.overview() ?? []]), "/schedules")
        default: break
        }
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count == 3, parts[0] == "schedules" else { return nil }
        let name = parts[1].removingPercentEncoding ?? parts[1]
        switch (request.method, parts[2]) {
        case ("GET", "runs"):
            guard let runs = scheduler?.history(name) else { return (.json(404, ["message": "no schedule named \(name); GET /schedules lists them"]), "/schedules/{name}/runs") }
            return (.json(200, ["schedule": name, "runs": runs]), "/schedules/{name}/runs")
        case ("POST", "run"):
            let endpoint = "/schedules/{name}/run"
            switch scheduler?.trigger(name) ?? .unknownSchedule {
            case .started(let id):
                return (.json(202, ["run_id": id, "schedule": name, "status": "running", "runs_url": "/schedules/\(name)/runs"]), endpoint)
            case .alreadyRunning(let id):
                return (.json(409, ["message": "\(name) is already running (run \(id)); one run at a time", "run_id": id, "schedule": name,
                                    "runs_url": "/schedules/\(name)/runs"]), endpoint)
            case .rateLimited(let seconds):
                return (.json(429, ["message": "too many manual runs of \(name); try again in \(seconds) s"], headers: [("Retry-After", String(seconds))]), endpoint)
            case .unknownSchedule:
                return (.json(404, ["message": "no schedule named \(name); GET /schedules lists them"]), endpoint)
            }
        default:
            return (.json(405, ["message": "Method Not Allowed"]), "/schedules/{name}/\(parts[2] == "runs" || parts[2] == "run" ? parts[2] : "unknown")")
        }
    }

    // MARK: routes

    func route(_ request: HTTPServer.Request) -> (HTTPServer.Response, String) {
        let path = normalised(request.path)
        let candidates = template.functions.flatMap { function in function.routes.compactMap { route in
            Self.match(route.path, path).map { (function, route, $0) }
        } }.sorted { $0.2.count < $1.2.count }  // a literal route wins over one with parameters, as on API Gateway
        if request.method == "OPTIONS", let origin = request.header("origin"), template.cors.origins.contains(origin) {
            return (HTTPServer.Response(status: 204, headers: [("Access-Control-Allow-Methods", template.cors.methods.joined(separator: ", ")),
                                                               ("Access-Control-Allow-Headers", template.cors.headers.joined(separator: ", ")),
                                                               ("Access-Control-Max-Age", String(template.cors.maxAge))]),
                    candidates.first?.1.path ?? "unmatched")
        }
        guard let (function, route, parameters) = candidates.first(where: { $0.1.method == request.method || $0.1.method == "ANY" }) else {
            return (.json(candidates.isEmpty ? 404 : 405, ["message": candidates.isEmpty ? "Not Found" : "Method Not Allowed"]), candidates.first?.1.path ?? "unmatched")
        }
        let requestId = UUID().uuidString.lowercased()
        let event = Self.apiGatewayEvent(request, route: route, requestId: requestId, pathParameters: parameters)
        let outcome = invoke(function, event, id: requestId)
        let response = Self.httpResponse(outcome)
        observe(route: route, response: response)
        return (response, route.path)
    }

    func invoke(_ function: Template.Function, _ event: Data, id: String, queueTimeout: Double? = nil) -> Invocation.Outcome {
        if let cold = cold?[function.logicalID] { return cold.invoke(event, timeout: function.timeout) }
        guard let pool = pools[function.logicalID] else { return .crashed("no pool for \(function.logicalID)") }
        return pool.invoke(event, id: id, queueTimeout: queueTimeout)
    }

    // MARK: what the metrics learn from answers passing through

    func observe(route: Template.Route, response: HTTPServer.Response) {
        // A run accepted here trains in the Event invocation the train function sends itself.
        if route.key == "POST /training/" && response.status == 202 { metrics.increment("training_runs_total", ["api"]) }
        guard response.status == 200 else { return }
        switch route.key {
        case "POST /predict/": metrics.increment("recommendations_total")
        case "GET /monitoring/drift": observeDrift(response.body)
        case "GET /models": observeModels(response.body)
        default: break
        }
    }

    func observeDrift(_ body: Data) {
        guard let result = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any], let detected = result["drift_detected"] as? Bool else { return }
        metrics.set("data_drift_detected", [], detected ? 1 : 0)
        for feature in result["features"] as? [[String: Any]] ?? [] {
            guard let name = feature["name"] as? String else { continue }
            if let statistic = feature["statistic"] as? Double { metrics.set("drift_feature_score", [name], statistic) }
            metrics.set("drift_feature_detected", [name], feature["drifted"] as? Bool == true ? 1 : 0)
        }
    }

    func observeModels(_ body: Data) {
        guard let list = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return }
        championLock.lock()
        championView = (list["champion"] ?? NSNull(), Date())
        championLock.unlock()
        guard let champion = list["champion"] as? [String: Any], let version = champion["version"] as? Int else {
            metrics.set("champion_model_version", [], 0)
            return
        }
        metrics.set("champion_model_version", [], Double(version))
        if let rmse = (champion["metrics"] as? [String: Any])?["rmse"] as? Double { metrics.set("champion_model_rmse", [], rmse) }
    }

    /// After a training run (whoever started it) the champion may have changed: ask the registry.
    func observeTrainingEnded(_ function: Template.Function) {
        guard function.executable == "train" else { return }
        refreshChampion()
    }

    /// The champion as the registry last answered, and when. `/health` shows it rather than
    /// invoking the train function each time: while a run trains on every core, that call waits
    /// for CPU, and a health check must stay quick. It is refreshed after every training run,
    /// on every `GET /models`, at start, and in the background once it is a minute old (the
    /// registry can also change outside the runner, by a train function run directly).
    private var championView: (champion: Any, observedAt: Date)?
    private var championRefreshing = false
    private let championLock = NSLock()

    /// The champion for `/health`, starting a background refresh when the view is stale.
    func cachedChampion(maxAge: TimeInterval = 60) -> Any {
        championLock.lock()
        let view = championView
        let refresh = !championRefreshing && (view.map { Date().timeIntervalSince($0.observedAt) > maxAge } ?? true)
        if refresh { championRefreshing = true }
        championLock.unlock()
        if refresh {
            background.async { [self] in
                refreshChampion()
                championLock.lock(); championRefreshing = false; championLock.unlock()
            }
        }
        return view?.champion ?? NSNull()
    }

    func refreshChampion() {
        guard let train = template.function(named: "train"),
              case .response(let data) = invoke(train, Data(#"{"action":"models"}"#.utf8), id: UUID().uuidString.lowercased(), queueTimeout: 30) else { return }
        observeModels(data)
    }

    /// The path parameters when `path` matches the route's template (`/items/{id}`, greedy
    /// `/files/{proxy+}`), nil when it does not.
    static func match(_ template: String, _ path: String) -> [String: String]? {
        let pattern = template.split(separator: "/"), parts = path.split(separator: "/")
        var parameters: [String: String] = [:]
        for (index, segment) in pattern.enumerated() {
            if segment.hasPrefix("{") && segment.hasSuffix("+}") {
                guard index < parts.count else { return nil }
                parameters[String(segment.dropFirst().dropLast(2))] = parts[index...].joined(separator: "/").removingPercentEncoding
                return parameters
            }
            guard index < parts.count else { return nil }
            if segment.hasPrefix("{") && segment.hasSuffix("}") {
                parameters[String(segment.dropFirst().dropLast())] = String(parts[index]).removingPercentEncoding ?? String(parts[index])
            } else if segment != parts[index] {
                return nil
            }
        }
        return pattern.count == parts.count ? parameters : nil
    }

    func normalised(_ path: String) -> String {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// The event API Gateway builds: lower-case header names, duplicates comma-joined, cookies
    /// apart, query parameters decoded, base64 for bodies that are not text, a fresh request id.
    static func apiGatewayEvent(_ request: HTTPServer.Request, route: Template.Route, requestId: String, pathParameters: [String: String] = [:]) -> Data {
        var headers: [String: String] = [:]
        var cookies: [String] = []
        for (name, value) in request.headers {
            let key = name.lowercased()
            if key == "cookie" { cookies += value.components(separatedBy: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }; continue }
            headers[key] = headers[key].map { "\($0),\(value)" } ?? value
        }
        var query: [String: String] = [:]
        for pair in request.rawQuery.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
            query[key] = query[key].map { "\($0),\(value)" } ?? value
        }
        let now = Date()
        var json = JSONWriter(capacity: 1024 + request.body.count * 4 / 3)
        json.beginObject()
        json.field("version", "2.0")
        json.field("routeKey", route.key)
        json.field("rawPath", request.path)
        json.field("rawQueryString", request.rawQuery)
        if !cookies.isEmpty {
            json.key("cookies")
            json.beginArray()
            for cookie in cookies { json.string(cookie) }
            json.endArray()
        }
        json.key("headers")
        json.object(headers)
        if !query.isEmpty { json.key("queryStringParameters"); json.object(query) }
        if !pathParameters.isEmpty { json.key("pathParameters"); json.object(pathParameters) }
        json.key("requestContext")
        json.beginObject()
        json.field("accountId", "000000000000")
        json.field("apiId", "local")
        json.field("domainName", "127.0.0.1")
        json.field("domainPrefix", "127")
        json.key("http")
        json.object(["method": request.method, "path": request.path, "protocol": "HTTP/1.1",
                     "sourceIp": request.remoteAddress, "userAgent": headers["user-agent"] ?? ""])
        json.field("requestId", requestId)
        json.field("routeKey", route.key)
        json.field("stage", "$default")
        json.field("time", Self.requestTime(now))
        json.key("timeEpoch")
        json.integer(Int64(now.timeIntervalSince1970 * 1000))
        json.endObject()
        if !request.body.isEmpty {
            json.key("body")
            if Self.isText(headers["content-type"]), let text = String(data: request.body, encoding: .utf8) {
                json.string(text)
                json.key("isBase64Encoded")
                json.bool(false)
            } else {
                json.string(request.body.base64EncodedString())
                json.key("isBase64Encoded")
                json.bool(true)
            }
        } else {
            json.key("isBase64Encoded")
            json.bool(false)
        }
        json.endObject()
        return Data(json.bytes)
    }

    /// `requestContext.time` as API Gateway writes it (27/Nov/2026:03:40:08 +0000), without a
    /// DateFormatter per request (making one costs more than the rest of the event).
    static func requestTime(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_mday))/\(months[Int(parts.tm_mon)])/\(parts.tm_year + 1900):\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    static func isText(_ contentType: String?) -> Bool {
        guard let type = contentType?.lowercased() else { return true }
        // Byte-wise: Foundation's String.contains compares locale-aware, on every request.
        let bytes = Array(type.utf8)
        func has(_ word: String) -> Bool {
            let needle = Array(word.utf8)
            guard needle.count <= bytes.count else { return false }
            return (0...(bytes.count - needle.count)).contains { bytes[$0..<$0 + needle.count].elementsEqual(needle) }
        }
        return type.hasPrefix("text/") || has("json") || has("xml") || has("x-www-form-urlencoded")
    }

    /// The function's answer as API Gateway returns it: `{statusCode, headers, body}` mapped, a bare
    /// JSON answer as 200 application/json, anything else (or a function error) 502, a timeout 504.
    static func httpResponse(_ outcome: Invocation.Outcome) -> HTTPServer.Response {
        switch outcome {
        case .timedOut: return .json(504, ["message": "Endpoint request timed out"])
        case .throttled: return .json(429, ["message": "Too Many Requests"])
        case .crashed, .functionError: return .json(502, ["message": "Internal Server Error"])
        case .response(let data):
            guard let answer = try? JSONDecoder().decode(FunctionAnswer.self, from: data), let status = answer.statusCode else {
                // Not the {statusCode, ...} shape: any other valid JSON is the body of a 200.
                guard (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil else {
                    return .json(502, ["message": "Internal Server Error"])
                }
                return HTTPServer.Response(status: 200, headers: [("Content-Type", "application/json")], body: data)
            }
            var headers: [(String, String)] = (answer.headers ?? [:]).map { ($0.key, $0.value.text) }
            for cookie in answer.cookies ?? [] { headers.append(("Set-Cookie", cookie)) }
            var body = Data()
            if let text = answer.body {
                if answer.isBase64Encoded == true {
                    guard let decoded = Data(base64Encoded: text) else { return .json(502, ["message": "Internal Server Error"]) }
                    body = decoded
                } else {
                    body = Data(text.utf8)
                }
            }
            guard (100...599).contains(status) else { return .json(502, ["message": "Internal Server Error"]) }
            return HTTPServer.Response(status: status, headers: headers, body: body)
        }
    }

    /// A function's answer to an API Gateway event (payload 2.0 response format).
    struct FunctionAnswer: Decodable {
        /// Header values may be strings, numbers or booleans.
        struct Scalar: Decodable {
            var text: String
            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let string = try? container.decode(String.self) { text = string }
                else if let int = try? container.decode(Int.self) { text = String(int) }
                else if let double = try? container.decode(Double.self) { text = String(double) }
                else { text = String(try container.decode(Bool.self)) }
            }
        }

        var statusCode: Int?
        var headers: [String: Scalar]?
        var cookies: [String]?
        var body: String?
        var isBase64Encoded: Bool?
    }

    // MARK: the Lambda Invoke API

    func invokeAPI(_ request: HTTPServer.Request) -> HTTPServer.Response {
        let parts = request.path.split(separator: "/")  // 2015-03-31, functions, NAME, invocations
        guard request.method == "POST", parts.count == 4, parts[3] == "invocations" else {
            return error(404, "ResourceNotFoundException", "Unknown operation \(request.method) \(request.path)")
        }
        let name = String(parts[2]).removingPercentEncoding ?? String(parts[2])
        let qualifier = (URLComponents(string: "?" + request.rawQuery)?.queryItems ?? []).first { $0.name == "Qualifier" }?.value
        let target: FunctionName
        do {
            target = try FunctionName.parse(name, qualifier: qualifier)
        } catch {
            switch error {
            case .invalid(let message): return self.error(400, "ValidationException", message)
            case .notFound(let message): return self.error(404, "ResourceNotFoundException", message)
            }
        }
        guard let function = template.function(named: target.name) else {
            return error(404, "ResourceNotFoundException", "Function not found: \(FunctionName.arn(of: target.name))")
        }
        guard request.body.isEmpty || (try? JSONSerialization.jsonObject(with: request.body, options: [.fragmentsAllowed])) != nil else {
            return error(400, "InvalidRequestContentException", "Could not parse request body into json")
        }
        let payload = request.body.isEmpty ? Data("{}".utf8) : request.body
        let requestId = UUID().uuidString.lowercased()
        // The invocation's own id, as Lambda answers it (handle() adds none when it is there).
        var response = invoke(function, payload: payload, requestId: requestId, type: request.header("x-amz-invocation-type") ?? "RequestResponse")
        if !response.headers.contains(where: { $0.0.lowercased() == "x-amzn-requestid" }) { response.headers.append(("x-amzn-RequestId", requestId)) }
        return response
    }

    private func invoke(_ function: Template.Function, payload: Data, requestId: String, type: String) -> HTTPServer.Response {
        switch type {
        case "DryRun":
            return HTTPServer.Response(status: 204, headers: [("x-amzn-RequestId", requestId)])
        case "Event":
            guard startBackground() else { return error(429, "TooManyRequestsException", "Rate Exceeded.") }
            noteInvocation(of: function, payload: payload)
            background.async { [self] in
                _ = invoke(function, payload, id: requestId, queueTimeout: function.timeout)
                observeTrainingEnded(function)
                endBackground()
            }
            return HTTPServer.Response(status: 202, headers: [("x-amzn-RequestId", requestId)])
        case "RequestResponse":
            noteInvocation(of: function, payload: payload)
            let outcome = invoke(function, payload, id: requestId)
            if case .response = outcome { if function.executable == "predict" { metrics.increment("recommendations_total") } }
            observeTrainingEnded(function)
            switch outcome {
            case .response(let data):
                return HTTPServer.Response(status: 200, headers: [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")], body: data)
            case .functionError(let data, _):
                return HTTPServer.Response(status: 200, headers: [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled"),
                                                                  ("X-Amz-Executed-Version", "$LATEST")], body: data)
            case .crashed(let reason):
                let body = (try? JSONSerialization.data(withJSONObject: ["errorMessage": reason, "errorType": "Runtime.ExitError"])) ?? Data()
                return HTTPServer.Response(status: 200, headers: [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled")], body: body)
            case .timedOut:
                let body = (try? JSONSerialization.data(withJSONObject: ["errorMessage": "Task timed out after \(function.timeout) seconds", "errorType": "Sandbox.Timedout"])) ?? Data()
                return HTTPServer.Response(status: 200, headers: [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled")], body: body)
            case .throttled:
                return error(429, "TooManyRequestsException", "Rate Exceeded.")
            }
        default:
            return error(400, "InvalidParameterValueException", "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun")
        }
    }

    /// A direct train event with no action (or "train") starts a run.
    func noteInvocation(of function: Template.Function, payload: Data) {
        guard function.executable == "train" else { return }
        let action = ((try? JSONSerialization.jsonObject(with: payload)) as? [String: Any])?["action"] as? String
        if action == nil || action == "train" { metrics.increment("training_runs_total", ["invoke"]) }
    }

    func error(_ status: Int, _ type: String, _ message: String) -> HTTPServer.Response {
        .json(status, ["Type": "User", "message": message], headers: [("x-amzn-ErrorType", type)])
    }

    // MARK: health

    func health() -> HTTPServer.Response {
        var functions: [String: Any] = [:]
        for (name, pool) in pools { functions[name] = pool.stats }
        var document: [String: Any] = ["functions": functions, "routes": template.functions.flatMap { $0.routes.map(\.key) }.sorted()]
        var database = "not checked"
        if let probe = template.function(named: "ingest") {
            switch invoke(probe, Data(#"{"action":"stats"}"#.utf8), id: UUID().uuidString.lowercased()) {
            case .response(let data):
                let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
                database = object?["ratings"] != nil ? "ok" : "error: \(String(decoding: data.prefix(300), as: UTF8.self))"
                document["ratings"] = object?["ratings"] ?? NSNull()
            case .functionError(let data, _): database = "error: \(String(decoding: data.prefix(300), as: UTF8.self))"
            case .throttled: database = "unknown: the ingest function is busy"
            default: database = "error: the ingest function did not answer"
            }
        }
        document["database"] = database
        var healthy = database == "ok"
        for (name, check) in healthChecks {
            let status = check()
            document[name] = status
            healthy = healthy && status == "ok"
        }
        if template.function(named: "train") != nil { document["champion"] = cachedChampion() }
        document["status"] = healthy ? "ok" : "degraded"
        return .json(healthy ? 200 : 503, document)
    }
}

