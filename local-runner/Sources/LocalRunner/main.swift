import RunnerKit

// local-runner: the local cloud. Everything lives in RunnerKit so that tests can reach it;
// see `local-runner --help`.
LocalRunner.main(Array(CommandLine.arguments.dropFirst()))
