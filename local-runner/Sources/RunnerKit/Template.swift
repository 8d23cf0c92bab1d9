import Foundation
import Yams

/// What the runner takes from `template/template.yaml`: the functions, their HTTP routes,
/// schedules, timeouts and concurrency. Routes come from here only: there is no second list.
struct Template {
    struct Function {
        var logicalID: String
        /// The executable: the `FUNCTION` build argument of the function's image.
        var executable: String
        var timeout: Double
        var memoryMB: Int
        var concurrency: Int
        var environment: [String: String]
        var routes: [Route]
        var schedules: [Schedule]
    }

    struct Route: Hashable {
        var method: String
        var path: String
        var key: String { "\(method) \(path)" }
    }

    struct Schedule {
        var name: String
        var expression: String
        var input: String?
    }

    /// What the scheduler fires: a function's `Schedule` event (one step, its `Input` as the
    /// event) or a state machine's (its Task states in order).
    struct Job {
        var name: String
        var expression: String
        var steps: [Step]
    }

    struct Step {
        var name: String
        var function: String   // logical id
        var payload: Data
        var retryInterval: Double = 0
        var retries: Int = 0
        var backoffRate: Double = 2
    }

    /// The HttpApi's CorsConfiguration.
    struct CORS {
        var origins: [String] = []
        var methods: [String] = ["GET", "POST", "OPTIONS"]
        var headers: [String] = ["content-type"]
        var maxAge = 0
    }

    var functions: [Function]
    var cors: CORS
    var jobs: [Job] = []

    static func load(_ path: String) throws -> Template {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let root = try Yams.compose(yaml: text) else { throw RunnerError("\(path) is empty") }
        let globals = root["Globals"]?["Function"]
        var functions: [Function] = []
        for (key, resource) in root["Resources"]?.mapping ?? [:] {
            guard let name = key.string, resource["Type"]?.string == "AWS::Serverless::Function" else { continue }
            let properties = resource["Properties"]
            guard let executable = resource["Metadata"]?["DockerBuildArgs"]?["FUNCTION"]?.string else {
                throw RunnerError("\(name) has no Metadata.DockerBuildArgs.FUNCTION: the runner cannot tell which executable it is")
            }
            var environment: [String: String] = [:]
            for source in [globals?["Environment"]?["Variables"], properties?["Environment"]?["Variables"]] {
                for (k, v) in source?.mapping ?? [:] {
                    // Literal values only: references (!Ref DatabaseUrl) come from the runner's own environment.
                    if let name = k.string, let value = v.scalar, v.tag.description == "tag:yaml.org,2002:str" { environment[name] = value.string }
                }
            }
            var routes: [Route] = [], schedules: [Schedule] = []
            for (eventName, event) in properties?["Events"]?.mapping ?? [:] {
                let eventProperties = event["Properties"]
                switch event["Type"]?.string {
                case "HttpApi":
                    guard let method = eventProperties?["Method"]?.string, let path = eventProperties?["Path"]?.string else { continue }
                    routes.append(Route(method: method.uppercased(), path: path))
                case "Schedule":
                    guard let expression = eventProperties?["Schedule"]?.string else { continue }
                    schedules.append(Schedule(name: eventProperties?["Name"]?.string ?? eventName.string ?? name, expression: expression,
                                              input: eventProperties?["Input"]?.string))
                default: continue
                }
            }
            functions.append(Function(
                logicalID: name, executable: executable,
                timeout: (properties?["Timeout"]?.float ?? globals?["Timeout"]?.float) ?? 3,
                memoryMB: (properties?["MemorySize"]?.int ?? globals?["MemorySize"]?.int) ?? 128,
                concurrency: max(1, properties?["ReservedConcurrentExecutions"]?.int ?? 4),
                environment: environment, routes: routes.sorted { $0.key < $1.key }, schedules: schedules))
        }
        var cors = CORS()
        for (_, resource) in root["Resources"]?.mapping ?? [:] where resource["Type"]?.string == "AWS::Serverless::HttpApi" {
            guard let configuration = resource["Properties"]?["CorsConfiguration"] else { continue }
            cors.origins += (configuration["AllowOrigins"]?.array() ?? []).compactMap(\.string)
            if let methods = configuration["AllowMethods"]?.array() { cors.methods = methods.compactMap(\.string) }
            if let headers = configuration["AllowHeaders"]?.array() { cors.headers = headers.compactMap(\.string) }
            cors.maxAge = configuration["MaxAge"]?.int ?? 0
        }
        var jobs: [Job] = []
        for function in functions {
            for schedule in function.schedules {
                jobs.append(Job(name: schedule.name, expression: schedule.expression,
                                steps: [Step(name: function.logicalID, function: function.logicalID, payload: Data((schedule.input ?? "{}").utf8))]))
            }
        }
        let functionIDs = Set(functions.map(\.logicalID))
        for (key, resource) in root["Resources"]?.mapping ?? [:] where resource["Type"]?.string == "AWS::Serverless::StateMachine" {
            let name = key.string ?? "StateMachine"
            let steps = try stateMachineSteps(name, resource["Properties"]?["Definition"], functions: functionIDs)
            for (eventName, event) in resource["Properties"]?["Events"]?.mapping ?? [:] where event["Type"]?.string == "Schedule" {
                guard let expression = event["Properties"]?["Schedule"]?.string else { continue }
                jobs.append(Job(name: event["Properties"]?["Name"]?.string ?? eventName.string ?? name, expression: expression, steps: steps))
            }
        }
        for job in jobs { _ = try ScheduleExpression.parse(job.expression) }
        return Template(functions: functions.sorted { $0.logicalID < $1.logicalID }, cors: cors,
                        jobs: jobs.sorted { $0.name < $1.name })
    }

    /// The Task states of an Amazon States Language definition, from StartAt along Next to End.
    /// The runner runs what the nightly pipeline needs: `lambda:invoke` tasks with a Payload and
    /// Retry; any other state is refused at start-up rather than skipped at night.
    static func stateMachineSteps(_ name: String, _ definition: Node?, functions: Set<String>) throws -> [Step] {
        guard let definition, let start = definition["StartAt"]?.string, let states = definition["States"] else {
            throw RunnerError("\(name): a state machine needs Definition.StartAt and Definition.States")
        }
        var steps: [Step] = []
        var current: String? = start
        while let stateName = current {
            guard steps.count < 100 else { throw RunnerError("\(name): the states form a loop") }
            guard let state = states[stateName] else { throw RunnerError("\(name): no state \(stateName)") }
            guard state["Type"]?.string == "Task", state["Resource"]?.string?.hasPrefix("arn:aws:states:::lambda:invoke") == true else {
                throw RunnerError("\(name).\(stateName): the local runner runs Task states with Resource arn:aws:states:::lambda:invoke only")
            }
            let target = state["Parameters"]?["FunctionName"]
            // !GetAtt IngestFunction.Arn, !Ref IngestFunction or the plain name.
            let reference = (target?.scalar?.string ?? "").components(separatedBy: ".").first ?? ""
            guard functions.contains(reference) else { throw RunnerError("\(name).\(stateName): FunctionName must name a function of the template, found \(reference)") }
            let payload = try JSONSerialization.data(withJSONObject: jsonValue(state["Parameters"]?["Payload"]) ?? [String: Any](), options: [.sortedKeys, .fragmentsAllowed])
            var step = Step(name: stateName, function: reference, payload: payload)
            if let retry = state["Retry"]?.array().first {
                step.retries = retry["MaxAttempts"]?.int ?? 3
                step.retryInterval = retry["IntervalSeconds"]?.float ?? 1
                step.backoffRate = retry["BackoffRate"]?.float ?? 2
            }
            steps.append(step)
            current = state["End"]?.bool == true ? nil : state["Next"]?.string
            if current == nil && state["End"]?.bool != true { throw RunnerError("\(name).\(stateName): a state needs Next or End: true") }
        }
        return steps
    }

    /// A YAML node as the JSON it stands for.
    static func jsonValue(_ node: Node?) -> Any? {
        guard let node else { return nil }
        switch node {
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (key, value) in mapping { if let name = key.string { object[name] = jsonValue(value) ?? NSNull() } }
            return object
        case .sequence(let sequence): return sequence.map { jsonValue($0) ?? NSNull() }
        case .scalar(let scalar):
            if node.tag.description == "tag:yaml.org,2002:str" { return scalar.string }
            if let int = node.int { return int }
            if let double = node.float { return double }
            if let bool = node.bool { return bool }
            if node.null != nil { return NSNull() }
            return scalar.string
        }
    }

    /// The function a name refers to: logical id ("PredictFunction") or executable ("predict").
    func function(named name: String) -> Function? {
        functions.first { $0.logicalID == name || $0.executable == name }
    }
}

struct RunnerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
