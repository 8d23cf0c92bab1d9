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
        var async: Bool
        var key: String { "\(method) \(path)" }
    }

    struct Schedule {
        var name: String
        var expression: String
        var input: String?
    }

    var functions: [Function]
    var corsOrigins: [String]

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
            let asyncRoutes = Set((resource["Metadata"]?["Gateway"]?["AsyncRoutes"]?.array() ?? []).compactMap(\.string))
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
                    routes.append(Route(method: method.uppercased(), path: path, async: asyncRoutes.contains("\(method.uppercased()) \(path)")))
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
        var origins: [String] = []
        for (_, resource) in root["Resources"]?.mapping ?? [:] where resource["Type"]?.string == "AWS::Serverless::HttpApi" {
            origins += (resource["Properties"]?["CorsConfiguration"]?["AllowOrigins"]?.array() ?? []).compactMap(\.string)
        }
        return Template(functions: functions.sorted { $0.logicalID < $1.logicalID }, corsOrigins: origins)
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
