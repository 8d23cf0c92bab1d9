#if canImport(Glibc)
import Glibc
#endif

/// Facts about the current invocation, from the Runtime API headers (or made up in direct mode).
public struct InvocationContext: Sendable {
    public var requestId: String
    /// Epoch milliseconds by which the answer is due; nil in direct mode.
    public var deadlineMs: Int64?
    public var functionArn: String?
    public var traceId: String?

    public var remainingSeconds: Double? {
        deadlineMs.map { Double($0) / 1000 - Date().timeIntervalSince1970 }
    }
}

/// A function: turns an event into a reply. It lives for the whole process, so state that is
/// costly to make (a database connection, a mapped model) is kept between warm invocations.
public protocol FunctionHandler: AnyObject {
    func handle(_ event: Event, context: InvocationContext) throws(FunctionError) -> Reply
    /// Work that need not hold up the caller, run once the answer is sent and before the next
    /// event is asked for (Lambda freezes the process once it asks): predict's log writes.
    func afterResponse()
}

extension FunctionHandler {
    public func afterResponse() {}
}

/// Starts a function in the mode its environment asks for: the Lambda Runtime API loop when
/// `AWS_LAMBDA_RUNTIME_API` is set, otherwise one event from stdin and one answer on stdout.
public enum FunctionRuntime {
    /// True when started under the Lambda Runtime API (deployed, or in the local runner's warm pool).
    public static var isLambdaRuntime: Bool { environment("AWS_LAMBDA_RUNTIME_API") != nil }

    public static func main(name: String, makeHandler: () throws -> FunctionHandler) -> Never {
        if let api = environment("AWS_LAMBDA_RUNTIME_API") {
            runtimeLoop(api: api, name: name, makeHandler: makeHandler)
        }
        exit(direct(makeHandler: makeHandler))
    }

    // MARK: direct mode

    static func direct(makeHandler: () throws -> FunctionHandler) -> Int32 {
        let input = readAll(fd: 0, limit: Event.maximumSize + 1)
        let context = InvocationContext(requestId: randomRequestId(), deadlineMs: nil, functionArn: nil, traceId: nil)
        let event: Event
        do { event = try Event.parse(input) } catch {
            return emit(Reply.error(error).body, success: false)
        }
        let handler: FunctionHandler
        do { handler = try makeHandler() } catch {
            return respond(event, reply: .error(FunctionError.wrap(error)))
        }
        let reply: Reply
        do { reply = try handler.handle(event, context: context) } catch { reply = .error(error) }
        let code = respond(event, reply: reply)
        handler.afterResponse()
        return code
    }

    private static func respond(_ event: Event, reply: Reply) -> Int32 {
        switch event {
        case .http: return emit(reply.apiGatewayResponse(), success: true)
        case .direct: return emit(reply.body, success: reply.status < 400)
        }
    }

    private static func emit(_ body: Data, success: Bool) -> Int32 {
        var output = body
        output.append(UInt8(ascii: "\n"))
        writeAll(fd: 1, output)
        return success ? 0 : 1
    }

    // MARK: Lambda Runtime API

    static func runtimeLoop(api: String, name: String, makeHandler: () throws -> FunctionHandler) -> Never {
        // As the entrypoint of a container the binary is PID 1, and the kernel drops signals a
        // PID 1 has no handler for: without this, stopping a container worker would not stop it.
        // Unblocked too: a parent's thread may have had it blocked when it started us
        // (Foundation's Process on a dispatch thread), and the mask is inherited.
        signal(SIGTERM) { _ in _exit(0) }
        var terminate = sigset_t()
        sigemptyset(&terminate)
        sigaddset(&terminate, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &terminate, nil)
        let base = "http://\(api)/2018-06-01/runtime"
        let client = HTTPClient()
        let handler: FunctionHandler
        do { handler = try makeHandler() } catch {
            let failure = FunctionError.wrap(error)
            Log.error("init failed", ["error": .string(failure.description)])
            _ = try? client.send("POST", url: "\(base)/init/error",
                                 headers: ["Lambda-Runtime-Function-Error-Type": "Runtime.\(failure.code)", "Content-Type": "application/json"],
                                 body: .bytes(errorDocument(failure)))
            exit(1)
        }
        Log.info("runtime loop started", ["function": .string(name), "api": .string(api)])
        while true {
            let next: HTTPClient.Response
            do { next = try client.send("GET", url: "\(base)/invocation/next", timeout: nil) } catch {
                Log.error("cannot reach the Runtime API", ["error": .string(error.message)])
                exit(1)
            }
            guard next.status == 200, let requestId = next.header("Lambda-Runtime-Aws-Request-Id") else {
                Log.error("unexpected answer from invocation/next", ["status": .number(Double(next.status))])
                exit(1)
            }
            if let trace = next.header("Lambda-Runtime-Trace-Id") { setenv("_X_AMZN_TRACE_ID", trace, 1) }
            let context = InvocationContext(
                requestId: requestId,
                deadlineMs: next.header("Lambda-Runtime-Deadline-Ms").flatMap { Int64($0) },
                functionArn: next.header("Lambda-Runtime-Invoked-Function-Arn"),
                traceId: next.header("Lambda-Runtime-Trace-Id"))

            let started = monotonicSeconds()
            var failure: FunctionError?
            var answer = Data()
            var route = "invalid event"
            var status = 400
            var measured: [EmbeddedMetric] = []
            do {
                let event = try Event.parse(next.body)
                route = EmbeddedMetrics.route(of: event)
                let reply: Reply
                do { reply = try handler.handle(event, context: context) } catch { reply = .error(error) }
                status = reply.status
                measured = reply.metrics
                switch event {
                case .http: answer = reply.apiGatewayResponse()
                case .direct:
                    if reply.status >= 400 {
                        failure = FunctionError(status: reply.status, code: "function_error",
                                                message: String(decoding: reply.body, as: UTF8.self))
                        if let body = try? JSONDecoder().decode(FunctionError.ErrorBody.self, from: reply.body) {
                            failure = FunctionError(status: reply.status, code: body.error.code, message: body.error.message, details: body.error.details)
                        }
                    } else {
                        answer = reply.body
                    }
                }
            } catch {
                failure = error
            }
            do {
                if let failure {
                    _ = try client.send("POST", url: "\(base)/invocation/\(requestId)/error",
                                        headers: ["Lambda-Runtime-Function-Error-Type": failure.code, "Content-Type": "application/json"],
                                        body: .bytes(errorDocument(failure)))
                } else {
                    _ = try client.send("POST", url: "\(base)/invocation/\(requestId)/response",
                                        headers: ["Content-Type": "application/json"], body: .bytes(answer))
                }
            } catch {
                Log.error("cannot post the answer", ["request_id": .string(requestId), "error": .string(error.message)])
            }
            let milliseconds = ((monotonicSeconds() - started) * 1e6).rounded() / 1e3
            let fields: [String: JSONValue] = ["level": .string("info"), "msg": .string("invocation"), "request_id": .string(requestId),
                                               "ms": .number(milliseconds), "ok": .bool(failure == nil)]
            for document in EmbeddedMetrics.documents(function: name, route: route, status: status, milliseconds: milliseconds,
                                                      metrics: measured, fields: fields) {
                Log.line(document)
            }
            handler.afterResponse()
        }
    }

    /// Lambda's error document, with our error shape kept inside so callers lose nothing.
    static func errorDocument(_ error: FunctionError) -> Data {
        let document: [String: JSONValue] = [
            "errorMessage": .string(error.message),
            "errorType": .string(error.code),
            "stackTrace": .array([]),
            "error": .object(["code": .string(error.code), "message": .string(error.message),
                              "details": .object(error.details), "status": .number(Double(error.status))]),
        ]
        return (try? JSON.encode(JSONValue.object(document))) ?? Data()
    }

    // MARK: helpers

    static func readAll(fd: Int32, limit: Int) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while data.count < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    static func writeAll(fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func randomRequestId() -> String { UUID().uuidString.lowercased() }
}
