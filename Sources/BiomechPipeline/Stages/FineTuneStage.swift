import BiomechCore
import BiomechRecipes
import ClinicalTasks
import FineTuning
import Foundation
import LoRAAdapter
import NumericsEngine
import QLoRAAdapter

/// `finetune`: adds the motion tokens to the backbone's vocabulary, attaches the adapter
/// and fine-tunes on the training QA pairs, once per repeat (seeds seed, seed+1, …), into
/// artifacts/finetune/r<k>/. Resumable from the newest checkpoint of each repeat.
public struct FineTuneStage: StageExecutor {
    public init() {}

    public func run(_ context: RunContext) throws -> [String: String] {
        let d = context.directory
        let records = try RunArtifacts.qaRecords(d)
        let train = records.filter { $0.split == .train }
        let validation = records.filter { $0.split == .validation }
        var summary: [String: String] = ["train_records": "\(train.count)"]
        let motionArtifacts = MotionArtifacts(d)
        for repetition in context.repetitions {
            let model = try AdaptedBackbone.build(context, repetition: repetition)
            var options = FineTuningOptions(context.recipe.training, seed: context.seed &+ UInt64(repetition))
            options.keepCheckpoints = 2
            let tuner = FineTuner(model: model.trainable, adapter: model.lora, tokenizer: model.backbone.textTokenizer,
                                  options: options, outputDirectory: RunArtifacts.fineTuneDirectory(d, repetition: repetition),
                                  progress: context.progress("finetune-r\(repetition)"),
                                  motion: try model.motionInputs(motionArtifacts))
            let result = try tuner.train(train, validation: validation, resume: true)
            summary["r\(repetition)_steps"] = "\(result.completedSteps)/\(result.totalSteps)"
            if let loss = result.finalTrainingLoss { summary["r\(repetition)_train_loss"] = String(format: "%.4f", loss) }
            if let loss = result.finalValidationLoss { summary["r\(repetition)_validation_loss"] = String(format: "%.4f", loss) }
        }
        return summary
    }
}

/// `evaluate`: for each repeat, loads the fine-tuned adapter, answers the QA records of the
/// recipe's evaluation splits greedily, parses each answer with its task, and writes
/// predictions/biomechgpt-r<k>.jsonl; with `rank_answers`, also ranks each classification
/// question's answers by likelihood (artifacts/finetune/r<k>/answer_rankings.jsonl), plain
/// and centred by each class's mean over the training split's ranked questions
/// (predictions/biomechgpt-ranked-r<k>.jsonl, biomechgpt-calibrated-r<k>.jsonl).
///
/// A predictions file is kept when it is newer than its adapter and the QA records and was
/// made with the same evaluation settings (recorded in artifacts/finetune/r<k>/
/// evaluation_settings.json), so an interrupted evaluation resumes and ranking can be added
/// to a finished run without answering greedily again. Ranked files of a run whose recipe no
/// longer ranks are removed when stale.
public struct EvaluateStage: StageExecutor {
    public init() {}

    public func run(_ context: RunContext) throws -> [String: String] {
        let d = context.directory
        let evaluation = context.recipe.evaluation
        let splits = SplitSide.allCases.filter { side in evaluation.splits.contains { $0.rawValue == side.rawValue } }
        let records = try RunArtifacts.qaRecords(d).filter { splits.contains($0.split) }
        let heads = Dictionary(uniqueKeysWithValues: try RunArtifacts.tasks(context).heads.map { ($0.id, $0) })
        let qaFile = RunArtifacts.qaDirectory(d).appendingPathComponent(QASet.fileName)
        let maxLength = context.recipe.training.maxLength
        let settings = "splits=\(splits.map(\.rawValue).joined(separator: ",")) max_new_tokens=\(evaluation.maxNewTokens) "
            + "max_questions_per_task=\(evaluation.maxQuestionsPerTask) max_length=\(maxLength)"
        var summary: [String: String] = [:]
        let motionArtifacts = MotionArtifacts(d)
        for repetition in context.repetitions {
            let repeatDirectory = RunArtifacts.fineTuneDirectory(d, repetition: repetition)
            let adapterDirectory = repeatDirectory.appendingPathComponent("adapter")
            let settingsFile = repeatDirectory.appendingPathComponent("evaluation_settings.json")
            var recorded = (try? JSONDecoder().decode([String: String].self, from: Data(contentsOf: settingsFile))) ?? [:]
            let inputs = [qaFile] + ((try? FileManager.default.contentsOfDirectory(at: adapterDirectory, includingPropertiesForKeys: nil)) ?? [])
            func file(_ model: String) -> URL { RunArtifacts.predictionsDirectory(d).appendingPathComponent("\(model)-r\(repetition).jsonl") }
            func isCurrent(_ model: String) -> Bool { recorded[model] == settings && FileDates.isCurrent(file(model), after: inputs) }
            let rankedModels = [AnswerRanking.modelName, AnswerRanking.calibratedModelName]
            let greedyDue = !isCurrent(GenerationEvaluation.modelName)
            let rankedDue = evaluation.rankAnswers && !rankedModels.allSatisfy(isCurrent)
            if !evaluation.rankAnswers {
                for m in rankedModels where !isCurrent(m) { try? FileManager.default.removeItem(at: file(m)) }
            }
            if !greedyDue { summary["r\(repetition)"] = "greedy answers kept" }
            guard greedyDue || rankedDue else { continue }

            let model = try AdaptedBackbone.build(context, repetition: repetition)
            try model.adapter.load(from: adapterDirectory)
            let motion = try model.motionInputs(motionArtifacts)
            try motion?.load(from: adapterDirectory)
            func record(_ models: [String]) throws {
                for m in models { recorded[m] = settings }
                try AtomicFile.writeJSON(recorded, to: settingsFile)
            }
            // Greedy answers, rankings or both per split, in one pass: when both are due, the
            // prompt runs once per classification question.
            var predictions: [PredictionRecord] = []
            var ranking = AnswerRanking.Ranking()
            for split in splits {
                let part = try AnsweringAndRanking.evaluate(
                    records: records.filter { $0.split == split }, tasks: heads, tokenizer: model.backbone.textTokenizer,
                    answeringWith: greedyDue ? model.backbone : nil, rankingWith: rankedDue ? model.trainable : nil,
                    adapter: model.lora, maxNewTokens: evaluation.maxNewTokens,
                    // Capped per task and split, so training-data evaluation stays bounded.
                    maxQuestionsPerTask: evaluation.maxQuestionsPerTask,
                    maxLength: min(maxLength, model.backbone.contextLength), repetition: repetition, motion: motion,
                    progress: context.progress("evaluate-r\(repetition)-\(split.rawValue)"))
                predictions += part.predictions
                ranking.questions += part.ranking.questions; ranking.skipped += part.ranking.skipped
            }
            if greedyDue {
                try PredictionsFile.write(predictions, to: file(GenerationEvaluation.modelName))
                try record([GenerationEvaluation.modelName])
                let parsed = predictions.filter { $0.prediction != nil }.count
                summary["r\(repetition)"] = "\(predictions.count) answers, \(parsed) parsed"
            }
            if rankedDue {
                // The training split's rankings give the calibration offsets (none when the
                // training split is not evaluated).
                try JSONLines.write(ranking.questions, to: repeatDirectory.appendingPathComponent("answer_rankings.jsonl"))
                let offsets = try AnswerRanking.calibrationOffsets(ranking.questions.filter { $0.record.split == .train })
                let p = try AnswerRanking.predictions(ranking.questions, tasks: heads, offsets: offsets, repetition: repetition)
                try PredictionsFile.write(p.ranked, to: file(AnswerRanking.modelName))
                try PredictionsFile.write(p.calibrated, to: file(AnswerRanking.calibratedModelName))
                try record(rankedModels)
                summary["r\(repetition)_ranked"] = "\(ranking.questions.count) questions ranked"
                    + (ranking.skipped.isEmpty ? "" : ", \(ranking.skipped.count) too long for max_length skipped")
            }
        }
        return summary
    }
}

/// The backbone with the motion tokens added and the adapter attached, as the recipe
/// configures them; shared by fine-tuning, evaluation and `ask`.
public struct AdaptedBackbone {
    public let backbone: any LanguageBackbone
    public let trainable: any TrainableLanguageModel
    public let adapter: any Adapter
    public let lora: LoRAAdapter
    /// The projection of continuous motion vectors (nil for discrete motion tokens).
    public let projection: VectorProjection?
    /// The fitted representation and tokenizer of the run.
    public let representation: any MotionRepresentation
    public let tokenizer: any Tokenizer

    /// The tokenizer's encoder when the recipe trains it with the language model.
    public var trainedEncoder: (any TrainableMotionEncoder)? {
        guard let e = tokenizer as? any TrainableMotionEncoder, e.trainsWithLanguageModel else { return nil }
        return e
    }

    /// Continuous motion inputs; nil for discrete tokens. Fixed vectors come from
    /// `encodings` (trial id → encoding); an encoder trained with the model reads `features`
    /// (trial id → features) instead. Only the one needed is evaluated.
    public func motionInputs(encodings: () throws -> [String: MotionEncoding],
                             features: () throws -> [String: FeatureMatrix]) throws -> MotionVectorInputs? {
        guard let projection else { return nil }
        guard let placeholder = backbone.textTokenizer.id(ofPiece: MotionText.vectorPiece) else {
            throw InputError(field: "tokenizer", "the backbone has no '\(MotionText.vectorPiece)' piece")
        }
        if let encoder = trainedEncoder {
            return MotionVectorInputs(projection: projection, placeholderID: placeholder, encoder: encoder, features: try features())
        }
        return try MotionVectorInputs(projection: projection, placeholderID: placeholder, encodings: encodings())
    }

    /// `motionInputs` over every trial of the run, from artifacts read once per stage.
    public func motionInputs(_ artifacts: MotionArtifacts) throws -> MotionVectorInputs? {
        try motionInputs(encodings: { try artifacts.encodings() }, features: { try artifacts.features(representation) })
    }

    public static func build(_ context: RunContext, repetition: Int) throws -> AdaptedBackbone {
        let recipe = context.recipe
        let file = context.directory.recipeFile.path
        guard let backboneSpec = recipe.backbone, let adapterSpec = recipe.adapter else {
            throw InputError(file: file, field: "backbone", "fine-tuning needs a 'backbone' and an 'adapter' section")
        }
        let seededSpec = try seededAdapterSpec(adapterSpec, context: context, repetition: repetition)
        let adapter: any Adapter = try context.registry.make(.adapter, seededSpec)
        // An adapter may build the base projections as the backbone loads them (QLoRA's NF4).
        let backbone: any LanguageBackbone = try ProjectionBuilding.with((adapter as? any ProjectionBuildingAdapter)?.projectionBuilder) {
            try context.registry.make(.backbone, backboneSpec)
        }
        guard let trainable = backbone as? any TrainableLanguageModel else {
            throw InputError(file: file, field: "backbone.id", "backbone '\(backboneSpec.id)' cannot be fine-tuned (it has no training step)")
        }
        let (representation, tokenizer) = try RunArtifacts.fittedModels(context)
        var projection: VectorProjection?
        switch tokenizer.kind {
        case .discrete:
            _ = try backbone.extendVocabulary(with: MotionText.vocabularyPieces(codebookSize: tokenizer.codebookSize))
        case .continuous:
            guard let encoder = tokenizer as? any ContinuousMotionEncoder else {
                throw InputError(file: file, field: "tokenizer.id", "tokenizer '\(recipe.tokenizer?.id ?? "")' makes vectors but names no projection")
            }
            _ = try backbone.extendVocabulary(with: MotionText.vectorVocabularyPieces)
            projection = VectorProjection(spec: encoder.projection, inputWidth: tokenizer.vectorWidth,
                                          outputWidth: backbone.embeddingWidth, seed: context.seed &+ UInt64(repetition))
        }
        try adapter.attach(to: backbone)
        let lora: LoRAAdapter
        if let plain = adapter as? LoRAAdapter { lora = plain } else if let quantized = adapter as? QLoRAAdapter { lora = quantized.lora } else {
            throw InputError(file: file, field: "adapter.id", "adapter '\(adapterSpec.id)' is not a LoRA adapter")
        }
        return AdaptedBackbone(backbone: backbone, trainable: trainable, adapter: adapter, lora: lora, projection: projection,
                               representation: representation, tokenizer: tokenizer)
    }

    /// Each repeat gets its own adapter initialisation and dropout stream: the adapter's seed
    /// (the run's seed unless the recipe sets one) plus the repeat's index.
    static func seededAdapterSpec(_ adapterSpec: PluginSpec, context: RunContext, repetition: Int) throws -> PluginSpec {
        var spec = adapterSpec
        if var entries = spec.section.entries {
            let base = try PluginParameters(section: spec.section, path: "adapter").seed(default: context.seed)
            entries.removeAll { $0.key == "seed" }
            entries.append(.init(key: "seed", keyLocation: nil, value: ConfigValue(.scalar("\(base &+ UInt64(repetition))", quoted: false))))
            spec.section = ConfigValue(.mapping(entries), at: spec.section.location)
        }
        return spec
    }
}

/// A run's continuous-motion inputs for the repeats of one stage: the encode stage's
/// encodings, or every trial's features (for an encoder trained with the model), each read
/// at most once.
public final class MotionArtifacts {
    let directory: RunDirectory
    private var cachedEncodings: [String: MotionEncoding]?
    private var cachedFeatures: [String: FeatureMatrix]?

    public init(_ directory: RunDirectory) { self.directory = directory }

    func encodings() throws -> [String: MotionEncoding] {
        if let cachedEncodings { return cachedEncodings }
        let e = try RunArtifacts.encodedEncodings(directory).mapValues(\.encoding)
        cachedEncodings = e
        return e
    }

    /// Features depend only on the fitted representation, the same for every repeat.
    func features(_ representation: any MotionRepresentation) throws -> [String: FeatureMatrix] {
        if let cachedFeatures { return cachedFeatures }
        let dataset = try RunArtifacts.dataset(directory)
        let f = Dictionary(try dataset.trials.map { ($0.id, try representation.features(of: $0)) }, uniquingKeysWith: { a, _ in a })
        cachedFeatures = f
        return f
    }
}
