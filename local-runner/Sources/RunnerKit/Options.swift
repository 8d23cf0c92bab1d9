import Foundation

/// The runner's command line.
struct Options {
    static let usage = """
        usage: local-runner [--host 127.0.0.1] [--port 8080] [--s3-port 9000] [--data-dir .local-runner]
                            [--dataset NAME|DIR] [--demo-ratings N] [--cold] [--template template/template.yaml]
                            [--functions DIR] [--idle-timeout SECONDS] [--no-scheduler] [--no-bootstrap]
                            [--file-root DIR ...] [--containers IMAGE [--container-engine COMMAND]]
                            [--mlflow | --no-mlflow] [--mlflow-port 5000]
               local-runner credentials [--data-dir .local-runner]

          --host            address the gateway and S3 bind to (default 127.0.0.1: this machine only)
          --port            gateway port: the template's routes, the Invoke API, the UI (default 8080; 0 picks one)
          --s3-port         S3 endpoint port (default 9000; 0 picks one)
          --data-dir        where the runner keeps its PostgreSQL, S3 objects, credentials and schedule history
          --dataset         the MovieLens dataset to import when the database is empty: a name
                            (ml-latest-small, ml-100k, ml-1m, ml-20m, ml-25m, ml-32m), downloaded from
                            GroupLens (MOVIELENS_BASE_URL for a mirror) and cached under --data-dir,
                            or a directory holding its files
          --demo-ratings    import a synthetic MovieLens-format dataset of N ratings instead (0: none);
                            without --dataset or --demo-ratings an empty database gets ml-latest-small,
                            or, when it cannot be downloaded, a synthetic demo of 1000000 ratings
          --cold            one process per invocation over stdin/stdout instead of warm workers (debugging)
          --template        the SAM template whose functions, routes and schedules are served
          --functions       directory of the built function executables (default: beside local-runner)
          --idle-timeout    seconds before an idle warm worker is stopped (default 300)
          --no-scheduler    do not fire the template's schedules (POST /schedules/{name}/run still works)
          --no-bootstrap    serve the database as it is: no import, first training or baseline at start
          --file-root       another local directory requests may import from or synthesize into (repeatable);
                            --data-dir and a --dataset directory are always allowed, other local paths never (s3:// always)
          --containers      run every warm worker as a container of its function's image, e.g.
                            localhost/movierec/{function}:latest ({function}: ingest, train, predict, drift);
                            needs DATABASE_URL over TCP, and the functions read only s3:// as deployed
          --container-engine  the engine's command (default podman; e.g. "podman --runtime runc")
          --mlflow          start `mlflow server` (runs in SQLite under --data-dir, artifacts in the runner's S3)
                            and mirror every training run into it; the default when mlflow is installed
                            and MLFLOW_TRACKING_URI names no server of your own
          --no-mlflow       do not start MLflow
          --mlflow-port     its port (default 5000)

        Without DATABASE_URL the runner starts a private PostgreSQL under --data-dir; with it, that
        database is used as it is. The S3 endpoint is always the runner's own.
        """

    var host = "127.0.0.1"
    var port = 8080
    var s3Port = 9000
    var dataDirectory = ".local-runner"
    var dataset: String?

    /// `--dataset ml-25m` names a dataset to download; `--dataset ./ml-25m` (or any existing
    /// directory) is one already on disk.
    var datasetName: String? {
        guard let dataset, !dataset.contains("/"), !FileManager.default.fileExists(atPath: dataset) else { return nil }
        return dataset
    }

    var datasetDirectory: String? { datasetName == nil ? dataset : nil }
    var demoRatings = 1_000_000
    /// --demo-ratings was given: the synthetic demo, not the default download.
    var demoRatingsGiven = false
    static let defaultDataset = "ml-latest-small"
    var cold = false
    var template = "template/template.yaml"
    var functions: String?
    var idleTimeout = 300.0
    var scheduler = true
    var bootstrap = true
    var fileRoots: [String] = []
    var containerImage: String?
    var containerEngine = "podman"
    /// nil: start MLflow when the `mlflow` command is installed; true: always; false: never.
    var mlflow: Bool?
    var mlflowPort = 5000
    /// `credentials`: print the S3 credentials and leave.
    var printCredentials = false

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        func value(_ name: String) throws -> String {
            index += 1
            guard index < arguments.count, !arguments[index].hasPrefix("--") else { throw RunnerError("\(name) needs a value; see --help") }
            return arguments[index]
        }
        func port(_ name: String) throws -> Int {
            let text = try value(name)
            guard let port = Int(text), (0...65535).contains(port) else { throw RunnerError("\(name) must be a port number 0-65535, not \(text)") }
            return port
        }
        if arguments.first == "credentials" {
            options.printCredentials = true
            index = 1
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--host": options.host = try value("--host")
            case "--port": options.port = try port("--port")
            case "--s3-port": options.s3Port = try port("--s3-port")
            case "--data-dir": options.dataDirectory = try value("--data-dir")
            case "--dataset": options.dataset = try value("--dataset")
            case "--demo-ratings":
                let text = try value("--demo-ratings")
                guard let count = Int(text), count >= 0 else { throw RunnerError("--demo-ratings must be a whole number of ratings, not \(text)") }
                options.demoRatings = count
                options.demoRatingsGiven = true
            case "--cold": options.cold = true
            case "--template": options.template = try value("--template")
            case "--functions": options.functions = try value("--functions")
            case "--idle-timeout":
                let text = try value("--idle-timeout")
                guard let seconds = Double(text), seconds > 0 else { throw RunnerError("--idle-timeout must be a number of seconds, not \(text)") }
                options.idleTimeout = seconds
            case "--no-scheduler": options.scheduler = false
            case "--no-bootstrap": options.bootstrap = false
            case "--file-root": options.fileRoots.append(try value("--file-root"))
            case "--containers": options.containerImage = try value("--containers")
            case "--container-engine": options.containerEngine = try value("--container-engine")
            case "--mlflow": options.mlflow = true
            case "--no-mlflow": options.mlflow = false
            case "--mlflow-port": options.mlflowPort = try port("--mlflow-port")
            case "--help", "-h":
                print(usage)
                exit(0)
            default: throw RunnerError("unknown option \(arguments[index]); see --help")
            }
            index += 1
        }
        return options
    }
}
