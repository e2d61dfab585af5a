// swift-tools-version: 6.0
// BiomechGPT for Swift: a multimodal biomechanics-language model framework.
//
// Layout: Sources/ holds the core (protocols, registry, recipes), the numerics
// engine, the data layer, the pipeline, the command-line tool and the C
// system-library targets; Plugins/ holds one target per shipped implementation.
import PackageDescription

let package = Package(
    name: "BiomechGPT",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "biomechgpt", targets: ["biomechgpt"]),
        .library(name: "BiomechCore", targets: ["BiomechCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // MARK: C system libraries (Debian packages named in the README)
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5"),
        .systemLibrary(name: "CXGBoost", path: "Sources/CXGBoost"),

        // MARK: Core: the five plugin protocols, the registry, the data model.
        .target(name: "BiomechCore", path: "Sources/BiomechCore"),
        // MARK: Recipes: YAML schema, `extends`, strict decoding with locations.
        .target(name: "BiomechRecipes",
                dependencies: ["BiomechCore", .product(name: "Yams", package: "Yams")],
                path: "Sources/BiomechRecipes"),

        // MARK: Motion data (data branch): HDF5 data sets, importers, splits, the simulated cohort.
        .target(name: "CHDF5Shim", dependencies: ["CHDF5"], path: "Sources/CHDF5Shim",
                linkerSettings: [.linkedLibrary("z")]),
        .target(name: "MotionData", dependencies: ["BiomechCore", "CHDF5Shim"], path: "Sources/MotionData"),
        .target(name: "CohortSimulator", dependencies: ["BiomechCore"], path: "Sources/CohortSimulator"),
        .target(name: "BiomechModelRepresentation", dependencies: ["BiomechCore", "MotionData"],
                path: "Plugins/BiomechModelRepresentation"),
        .target(name: "JointAnglesRepresentation", dependencies: ["BiomechCore", "MotionData"],
                path: "Plugins/JointAnglesRepresentation"),
        .testTarget(name: "MotionDataTests", dependencies: ["MotionData", "BiomechCore", "CohortSimulator"],
                    path: "Tests/MotionDataTests"),
        .testTarget(name: "CohortSimulatorTests", dependencies: ["CohortSimulator", "MotionData", "BiomechCore"],
                    path: "Tests/CohortSimulatorTests"),
        .testTarget(name: "RepresentationTests",
                    dependencies: ["BiomechModelRepresentation", "JointAnglesRepresentation", "BiomechCore",
                                   "MotionData", "CohortSimulator"],
                    path: "Tests/RepresentationTests"),
        // MARK: end of motion data

        // MARK: The command-line tool and the plugin catalog (registration lives here).
        .executableTarget(
            name: "biomechgpt",
            dependencies: [
                "BiomechCore", "BiomechRecipes",
                "MotionData", "CohortSimulator", "BiomechModelRepresentation", "JointAnglesRepresentation",  // data branch
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/biomechgpt"),

        // MARK: Tests
        .testTarget(name: "BiomechCoreTests", dependencies: ["BiomechCore"], path: "Tests/BiomechCoreTests"),
        .testTarget(name: "BiomechRecipesTests", dependencies: ["BiomechRecipes", "BiomechCore"],
                    path: "Tests/BiomechRecipesTests",
                    resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
