import Core

// Statistical drift of the ratings against a baseline, HTML reports, monitoring statistics.
FunctionRuntime.main(name: "drift") {
    try DriftFunction(requireDatabase: FunctionRuntime.isLambdaRuntime)
}
