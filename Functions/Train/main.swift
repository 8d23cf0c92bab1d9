import Core

// Train NormalPredictor, SVD and KNNBasic, cross-validate, register the best, promote it fairly.
FunctionRuntime.main(name: "train") {
    try TrainFunction(requireDatabase: FunctionRuntime.isLambdaRuntime)
}
