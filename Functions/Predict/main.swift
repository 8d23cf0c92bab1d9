import Core

// Top-N unseen movies for a user from the champion model, cold start, single ratings, batch exports.
FunctionRuntime.main(name: "predict") {
    try PredictFunction(requireDatabase: FunctionRuntime.isLambdaRuntime)
}
