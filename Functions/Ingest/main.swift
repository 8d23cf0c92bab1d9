import Core

// Import MovieLens datasets, record ratings, generate synthetic ones, sample and count them.
FunctionRuntime.main(name: "ingest") {
    try IngestFunction(requireDatabase: FunctionRuntime.isLambdaRuntime)
}
