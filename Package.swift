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

        // MARK: Pipeline: run directories and the stage runner.
        .target(name: "BiomechPipeline",
                dependencies: ["BiomechCore", "BiomechRecipes", "MotionData", "CohortSimulator", "ClinicalTasks",
                               "NumericsEngine", "FineTuning", "LoRAAdapter", "QLoRAAdapter"],
                path: "Sources/BiomechPipeline"),
        // MARK: Clinical tasks: task YAML, QA builder, answer parsing,
        // metrics, predictions and reports; the YAML-configured task heads; the baselines.
        .target(name: "ClinicalTasks",
                dependencies: ["BiomechCore", "BiomechRecipes"],
                path: "Sources/ClinicalTasks"),
        .target(name: "ClassificationTask", dependencies: ["BiomechCore", "ClinicalTasks"],
                path: "Plugins/ClassificationTask"),
        .target(name: "RegressionTask", dependencies: ["BiomechCore", "ClinicalTasks"],
                path: "Plugins/RegressionTask"),
        .target(name: "TokenHistogramBoosting", dependencies: ["BiomechCore", "ClinicalTasks", "CXGBoost"],
                path: "Plugins/TokenHistogramBoosting"),
        .target(name: "ChanceBaseline", dependencies: ["BiomechCore", "TokenHistogramBoosting"],
                path: "Plugins/ChanceBaseline"),
        // MARK: end of clinical tasks
        // MARK: Motion data: HDF5 data sets, importers, splits, the simulated cohort.
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
                "BiomechCore", "BiomechRecipes", "BiomechPipeline", "NumericsEngine",
                "ClinicalTasks", "ClassificationTask", "RegressionTask", "TokenHistogramBoosting", "ChanceBaseline",
                "MotionData", "CohortSimulator", "BiomechModelRepresentation", "JointAnglesRepresentation",
                "Gemma3Backbone",
                "VQVAETokenizer", "ContinuousEncoder",
                "LoRAAdapter", "QLoRAAdapter", "FineTuning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/biomechgpt"),

        // MARK: GGUF: memory-mapped GGUF reader, metadata, dequantization
        .target(name: "GGUF", dependencies: ["BiomechCore"], path: "Sources/GGUF"),
        // MARK: Gemma 3 backbone: tokenizer, configuration, chat template, model location
        .target(name: "Gemma3Backbone", dependencies: ["GGUF", "BiomechCore", "NumericsEngine", "CBLAS", "CGemmaKernels"],
                path: "Plugins/Gemma3Backbone"),
        // Gemma 3 decoding kernels in C: matrix-vector products read from GGML's quantized
        // blocks (the Q8_0 tied LM head, the Q4_K/Q5_0/Q6_K/Q8_0 projections).
        .target(name: "CGemmaKernels", dependencies: ["CWorkerPool"], path: "Sources/CGemmaKernels"),
        // A pool of threads that poll between jobs, for the many short parallel jobs of a
        // forward pass (`Threads.parallelFor`, the decoding products).
        .target(name: "CWorkerPool", path: "Sources/CWorkerPool"),
        // MARK: Numerics engine (tensors, differentiable operations, optimizers, safetensors)
        .target(name: "NumericsEngine", dependencies: ["CBLAS", "CMatrixKernels", "CWorkerPool", "BiomechCore"],
                path: "Sources/NumericsEngine"),
        // Matrix products in C that OpenBLAS does not provide (bfloat16 inputs, float32 sums).
        .target(name: "CMatrixKernels", path: "Sources/CMatrixKernels"),
        // Finite-difference gradient checks shared by the test targets.
        .target(name: "GradientChecking", dependencies: ["NumericsEngine", "BiomechCore"], path: "Tests/GradientChecking"),
        .testTarget(name: "NumericsEngineTests", dependencies: ["NumericsEngine", "CMatrixKernels", "CWorkerPool", "BiomechCore", "GradientChecking"],
                    path: "Tests/NumericsEngineTests",
                    resources: [.copy("Fixtures")]),
        // MARK: End of numerics engine

        // MARK: VQ-VAE motion tokenizer (plugin id `vqvae`)
        .target(name: "VQVAETokenizer", dependencies: ["BiomechCore", "NumericsEngine"],
                path: "Plugins/VQVAETokenizer"),
        .testTarget(name: "VQVAETokenizerTests", dependencies: ["GradientChecking", "VQVAETokenizer", "ContinuousEncoder", "NumericsEngine", "BiomechCore"],
                    path: "Tests/VQVAETokenizerTests", resources: [.copy("Fixtures")]),
        // MARK: Continuous-encoder baseline (plugin id `continuous-encoder`)
        .target(name: "ContinuousEncoder", dependencies: ["BiomechCore", "NumericsEngine", "VQVAETokenizer"],
                path: "Plugins/ContinuousEncoder"),
        // MARK: End of VQ-VAE motion tokenizer
        // MARK: Adapters and fine-tuning (LoRA, QLoRA, PEFT files, the trainer)
        .target(name: "LoRAAdapter", dependencies: ["BiomechCore", "NumericsEngine"], path: "Plugins/LoRAAdapter"),
        .target(name: "QLoRAAdapter", dependencies: ["BiomechCore", "NumericsEngine", "CMatrixKernels", "CGemmaKernels", "LoRAAdapter", "GGUF"],
                path: "Plugins/QLoRAAdapter"),
        .target(name: "FineTuning",
                dependencies: ["BiomechCore", "BiomechRecipes", "NumericsEngine", "ClinicalTasks", "LoRAAdapter"],
                path: "Sources/FineTuning"),
        .testTarget(name: "AdapterTests",
                    dependencies: ["GradientChecking", "LoRAAdapter", "QLoRAAdapter", "NumericsEngine", "CMatrixKernels", "GGUF", "BiomechCore"],
                    path: "Tests/AdapterTests"),
        .testTarget(name: "FineTuningTests",
                    dependencies: ["GradientChecking", "FineTuning", "LoRAAdapter", "QLoRAAdapter", "NumericsEngine", "ClinicalTasks",
                                   "BiomechRecipes", "BiomechCore", "Gemma3Backbone", "GGUF"],
                    path: "Tests/FineTuningTests"),
        // MARK: End of adapters and fine-tuning

        // MARK: Tests
        .testTarget(name: "BiomechCoreTests", dependencies: ["BiomechCore"], path: "Tests/BiomechCoreTests"),
        .testTarget(name: "BiomechPipelineTests", dependencies: ["BiomechPipeline", "BiomechRecipes", "BiomechCore"],
                    path: "Tests/BiomechPipelineTests"),
        .testTarget(name: "BiomechRecipesTests", dependencies: ["BiomechRecipes", "BiomechCore"],
                    path: "Tests/BiomechRecipesTests",
                    resources: [.copy("Fixtures")]),
        // Clinical tasks
        .testTarget(name: "ClinicalTasksTests",
                    dependencies: ["ClinicalTasks", "ClassificationTask", "RegressionTask", "BiomechCore"],
                    path: "Tests/ClinicalTasksTests", resources: [.copy("Fixtures")]),
        .testTarget(name: "BaselineTests",
                    dependencies: ["TokenHistogramBoosting", "ChanceBaseline", "ClinicalTasks", "ClassificationTask",
                                   "RegressionTask", "BiomechCore"],
                    path: "Tests/BaselineTests", resources: [.copy("Fixtures")]),
        // MARK: Tests for GGUF and Gemma3Backbone
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "BiomechCore"], path: "Tests/GGUFTests",
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "Gemma3BackboneTests", dependencies: ["Gemma3Backbone", "GGUF", "BiomechCore", "NumericsEngine", "CGemmaKernels"],
                    path: "Tests/Gemma3BackboneTests",
                    resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
