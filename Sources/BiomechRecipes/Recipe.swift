import BiomechCore

/// The stages a run can execute, in pipeline order.
public enum Stage: String, ConfigEnum, Codable {
    /// Materialise the data set (simulate, import or open) and split it by participant.
    case data
    /// Fit the representation's normalisation and train the tokenizer on the training split.
    case tokenizer
    /// Encode every trial into motion tokens (or vectors).
    case encode
    /// Fit and score the language-model-free baselines (token-histogram boosting, chance).
    case baselines
    /// Build the question–answer set (JSON Lines) for every task that applies.
    case qa
    /// Fine-tune the backbone with the adapter on the training QA pairs.
    case finetune
    /// Answer the test (and training) questions and score them.
    case evaluate
    /// Write the Markdown/CSV/JSON/SVG report.
    case report

    /// Stages that run once for each of the recipe's repeats (seeds seed, seed+1, …) and so
    /// can be limited to some repeats with `run --repeat`.
    public var runsOncePerRepeat: Bool { self == .baselines || self == .finetune || self == .evaluate }
}

/// A recipe: which plugins, with which parameters, on which data, through which stages.
/// Every key is documented in docs/recipes.md.
public struct Recipe: Decodable, Sendable {
    public var name: String
    public var description: String?
    public var seed: UInt64
    public var stages: [Stage]
    /// Repeated training runs with seeds seed, seed+1, … (the paper: 3).
    public var repeats: Int
    public var data: DataSection
    public var split: SplitSection
    public var representation: PluginSpec
    public var tokenizer: PluginSpec?
    public var backbone: PluginSpec?
    public var adapter: PluginSpec?
    public var tasks: [String]
    /// Extra folders searched for task YAML files (besides recipes/tasks).
    public var taskDirectories: [String]
    public var baselines: [PluginSpec]
    public var training: TrainingSection
    public var evaluation: EvaluationSection
    /// Where run directories are created.
    public var output: String
    public var threads: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, seed, stages, repeats, data, split, representation, tokenizer, backbone, adapter, tasks
        case taskDirectories = "task_directories", baselines, training, evaluation, output, threads
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        stages = try c.decode([Stage].self, forKey: .stages)
        repeats = try c.decodeIfPresent(Int.self, forKey: .repeats) ?? 1
        data = try c.decode(DataSection.self, forKey: .data)
        split = try c.decodeIfPresent(SplitSection.self, forKey: .split) ?? SplitSection()
        representation = try c.decode(PluginSpec.self, forKey: .representation)
        tokenizer = try c.decodeIfPresent(PluginSpec.self, forKey: .tokenizer)
        backbone = try c.decodeIfPresent(PluginSpec.self, forKey: .backbone)
        adapter = try c.decodeIfPresent(PluginSpec.self, forKey: .adapter)
        tasks = try c.decodeIfPresent([String].self, forKey: .tasks) ?? []
        taskDirectories = try c.decodeIfPresent([String].self, forKey: .taskDirectories) ?? []
        baselines = try c.decodeIfPresent([PluginSpec].self, forKey: .baselines) ?? []
        training = try c.decodeIfPresent(TrainingSection.self, forKey: .training) ?? TrainingSection()
        evaluation = try c.decodeIfPresent(EvaluationSection.self, forKey: .evaluation) ?? EvaluationSection()
        output = try c.decodeIfPresent(String.self, forKey: .output) ?? "runs"
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? 2
    }
}

/// Where the trials come from.
public struct DataSection: Decodable, Sendable {
    public enum Source: String, ConfigEnum { case synthetic, file, `import` }
    public var source: Source
    /// An HDF5 data set (source `file`).
    public var path: String?
    /// Participants of the simulated cohort (source `synthetic`).
    public var participants: Int
    /// Importer settings (source `import`): format, inputs, optional labels CSV.
    public var format: String?
    public var inputs: [String]
    public var labels: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case source, path, participants, format, inputs, labels }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(Source.self, forKey: .source)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        participants = try c.decodeIfPresent(Int.self, forKey: .participants) ?? 120
        format = try c.decodeIfPresent(String.self, forKey: .format)
        inputs = try c.decodeIfPresent([String].self, forKey: .inputs) ?? []
        labels = try c.decodeIfPresent(String.self, forKey: .labels)
        let here = (decoder as? any ConfigValueDecoding)?.configValue ?? ConfigValue(.null)
        switch source {
        case .file where path == nil:
            throw here.error(field: "data.path", "source 'file' needs 'path' (an HDF5 data set)")
        case .import where format == nil || inputs.isEmpty:
            throw here.error(field: "data.format", "source 'import' needs 'format' and 'inputs'")
        case .synthetic where participants < 2:
            throw here.error(field: "data.participants", "the simulated cohort needs at least 2 participants")
        default: break
        }
    }
}

/// Participant-level split fractions.
public struct SplitSection: Decodable, Sendable {
    public var train: Double = 0.8
    public var validation: Double = 0.1
    public var test: Double = 0.1

    enum CodingKeys: String, CodingKey, CaseIterable { case train, validation, test }

    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        train = try c.decodeIfPresent(Double.self, forKey: .train) ?? 0.8
        validation = try c.decodeIfPresent(Double.self, forKey: .validation) ?? 0.1
        test = try c.decodeIfPresent(Double.self, forKey: .test) ?? 0.1
        let sum = train + validation + test
        if abs(sum - 1) > 1e-6 || min(train, validation, test) < 0 || train == 0 {
            let here = (decoder as? any ConfigValueDecoding)?.configValue ?? ConfigValue(.null)
            throw here.error(field: "split", "train, validation and test must be non-negative fractions that sum to 1 (they sum to \(sum))")
        }
    }
}

/// Fine-tuning settings (the paper's defaults).
public struct TrainingSection: Decodable, Sendable {
    public enum Schedule: String, ConfigEnum { case cosine, linear, constant }
    public var epochs: Double = 1.2
    public var learningRate: Double = 2e-4
    public var batchSize: Int = 1
    public var gradientAccumulation: Int = 8
    public var maxLength: Int = 1024
    public var warmupRatio: Double = 0.03
    public var schedule: Schedule = .cosine
    public var weightDecay: Double = 0
    public var lossOnPrompt: Bool = true
    public var checkpointEvery: Int = 200
    public var validationEvery: Int = 100
    public var maxGradNorm: Double = 1

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, learningRate = "learning_rate", batchSize = "batch_size", gradientAccumulation = "gradient_accumulation"
        case maxLength = "max_length", warmupRatio = "warmup_ratio", schedule, weightDecay = "weight_decay"
        case lossOnPrompt = "loss_on_prompt", checkpointEvery = "checkpoint_every", validationEvery = "validation_every"
        case maxGradNorm = "max_grad_norm"
    }

    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epochs = try c.decodeIfPresent(Double.self, forKey: .epochs) ?? epochs
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? learningRate
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        gradientAccumulation = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulation) ?? gradientAccumulation
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? maxLength
        warmupRatio = try c.decodeIfPresent(Double.self, forKey: .warmupRatio) ?? warmupRatio
        schedule = try c.decodeIfPresent(Schedule.self, forKey: .schedule) ?? schedule
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? weightDecay
        lossOnPrompt = try c.decodeIfPresent(Bool.self, forKey: .lossOnPrompt) ?? lossOnPrompt
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? checkpointEvery
        validationEvery = try c.decodeIfPresent(Int.self, forKey: .validationEvery) ?? validationEvery
        maxGradNorm = try c.decodeIfPresent(Double.self, forKey: .maxGradNorm) ?? maxGradNorm
    }
}

/// Evaluation settings.
public struct EvaluationSection: Decodable, Sendable {
    public enum Split: String, ConfigEnum { case test, validation, train }
    public var splits: [Split] = [.test, .train]
    public var maxNewTokens: Int = 16
    /// Cap on evaluated questions per task and split (0 = all), to bound evaluation time.
    public var maxQuestionsPerTask: Int = 0
    /// Also score every class's answer by its likelihood and predict the most likely one
    /// (model `biomechgpt-ranked` beside the greedy `biomechgpt`; classification tasks), and
    /// the most likely after centring on the training split's mean (`biomechgpt-calibrated`).
    public var rankAnswers: Bool = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case splits, maxNewTokens = "max_new_tokens", maxQuestionsPerTask = "max_questions_per_task"
        case rankAnswers = "rank_answers"
    }

    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        splits = try c.decodeIfPresent([Split].self, forKey: .splits) ?? splits
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? maxNewTokens
        maxQuestionsPerTask = try c.decodeIfPresent(Int.self, forKey: .maxQuestionsPerTask) ?? maxQuestionsPerTask
        rankAnswers = try c.decodeIfPresent(Bool.self, forKey: .rankAnswers) ?? rankAnswers
    }
}
