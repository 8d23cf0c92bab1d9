// swift-tools-version: 6.0
import PackageDescription

// Functions start once per cold invocation, so they link only Core, and Core links only
// FoundationEssentials and C libraries (libpq, libcurl, and zlib and libcrypto, which libcurl
// loads anyway).
//
// The functions' image (template/Dockerfile) builds from Package.swift, Core and Functions
// alone, with MOVIEREC_FUNCTIONS_ONLY=1: the manifest then leaves out the runner, the tests and
// their packages, so the image build needs neither their sources nor a package registry.
let functionsOnly = Context.environment["MOVIEREC_FUNCTIONS_ONLY"] == "1"

let functions: [Target] = [
    .systemLibrary(
        name: "CLibPQ",
        path: "Core/System/CLibPQ",
        providers: [.apt(["libpq-dev"])]
    ),
    .systemLibrary(
        name: "CZlib",
        path: "Core/System/CZlib",
        providers: [.apt(["zlib1g-dev"])]
    ),
    .systemLibrary(
        name: "CCrypto",
        path: "Core/System/CCrypto",
        providers: [.apt(["libssl-dev"])]
    ),
    .target(
        name: "CCurl",
        path: "Core/System/CCurl",
        linkerSettings: [.linkedLibrary("curl")]
    ),
    .target(
        name: "Core",
        dependencies: ["CLibPQ", "CCurl", "CZlib", "CCrypto"],
        path: "Core",
        exclude: ["System"],
        swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release))]
    ),
    .executableTarget(name: "Ingest", dependencies: ["Core"], path: "Functions/Ingest"),
    .executableTarget(name: "Train", dependencies: ["Core"], path: "Functions/Train"),
    .executableTarget(name: "Predict", dependencies: ["Core"], path: "Functions/Predict"),
    .executableTarget(name: "Drift", dependencies: ["Core"], path: "Functions/Drift"),
]

let runnerAndTests: [Target] = [
    .target(name: "RunnerKit", dependencies: [.product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")],
            path: "local-runner/Sources/RunnerKit", swiftSettings: [.swiftLanguageMode(.v5)]),
    .executableTarget(name: "LocalRunner", dependencies: ["RunnerKit"], path: "local-runner/Sources/LocalRunner",
                      swiftSettings: [.swiftLanguageMode(.v5)]),
    .testTarget(name: "CoreTests", dependencies: ["Core"], path: "Tests/CoreTests"),
    .testTarget(name: "RunnerTests", dependencies: ["RunnerKit", "Core"], path: "Tests/RunnerTests", swiftSettings: [.swiftLanguageMode(.v5)]),
]

let package = Package(
    name: "MovieRecFunctions",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Core", targets: ["Core"]),
        .executable(name: "ingest", targets: ["Ingest"]),
        .executable(name: "train", targets: ["Train"]),
        .executable(name: "predict", targets: ["Predict"]),
        .executable(name: "drift", targets: ["Drift"]),
    ] + (functionsOnly ? [] : [.executable(name: "local-runner", targets: ["LocalRunner"])]),
    dependencies: functionsOnly ? [] : [
        // The local runner only; the functions link no Swift package.
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        // SHA-256 and HMAC for verifying SigV4 signatures in the runner's S3 emulation.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: functions + (functionsOnly ? [] : runnerAndTests)
)
