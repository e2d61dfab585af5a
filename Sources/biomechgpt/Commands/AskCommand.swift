import ArgumentParser
import BiomechCore
import BiomechPipeline
import BiomechRecipes
import ClinicalTasks
import FineTuning
import Foundation
import MotionData

/// `biomechgpt ask --run RUN --motion FILE "question"`: the fine-tuned model of a run
/// answers a question about one recording in any importable format.
struct AskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Ask a fine-tuned run a question about one recording.",
        discussion: """
            The recording is imported (format from its extension, or --format), turned into motion \
            tokens (or continuous vectors) with the run's representation and tokenizer, and placed where the question says \
            <motion> (or after the question). The run's backbone with its fine-tuned adapter answers.

            With --task, the answer is also read as that task reads it, and for a classification \
            task every class's answer is ranked by its likelihood after the question (as \
            `rank_answers` does in evaluation), with its probability among the task's answers and, \
            where the run saved rankings of its training questions, the calibrated probability. \
            Without a question, --task asks one of the task's own prompts (always the same one).
            """)

    @Option(name: .customLong("run"), help: "A run directory that completed the finetune stage.") var runDirectory: String
    @Option(help: "The recording: .mot/.sto, .npz, .bvh, .csv, a UI-PRMD file, or an HDF5 data set (with --trial).")
    var motion: String
    @Option(help: "Import format (default: from the file's extension).") var format: String?
    @Option(help: "Trial id when --motion is an HDF5 data set (default: its first trial).") var trial: String?
    @Option(name: .customLong("repeat"), help: "Which repeated training run's adapter to use.") var repetition = 0
    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.") var maxTokens = 32
    @Option(help: "A task of the run's recipe: parse the answer as it does and rank its classes' answers.") var task: String?
    @Argument(help: "The question; <motion> marks where the recording goes (default with --task: a fixed one of the task's prompts).")
    var question: String?

    func validate() throws {
        try OptionChecks.atLeast(1, maxTokens, "--max-tokens")
        try OptionChecks.atLeast(0, repetition, "--repeat")
    }

    func run() throws {
        try reportingErrors {
            let recording = try loadRecording()
            let run = try FineTunedRun(runDirectory, repetition: repetition)
            let directory = run.directory, adapterDirectory = run.adapterDirectory
            let head = try task.map { id in
                let heads = try RunArtifacts.tasks(run.context).heads
                guard let found = heads.first(where: { $0.id == id }) else {
                    throw InputError(file: directory.recipeFile.path, field: "--task", "the run has no task '\(id)'",
                                     allowed: heads.map(\.id))
                }
                return found
            }
            guard let question = question ?? head.map({ fixedPrompt(of: $0) }) else {
                throw InputError(field: "question", "give a question, or --task to ask one of a task's prompts")
            }
            if self.question == nil { print("question (task '\(head!.id)'): \(question)\n") }
            let model = try run.loadModel()
            let features = try model.representation.features(of: recording)
            let encoding = try model.tokenizer.encode(features)
            let motionText = MotionText.render(encoding)
            let text = question.contains("<motion>") ? question.replacingOccurrences(of: "<motion>", with: motionText)
                                                     : question + " " + motionText
            let prompt = model.backbone.chatPrompt([ChatTurn(.user, text)], openModelTurn: true)
            let tokens = model.backbone.textTokenizer.encode(prompt, addBOS: false)
            var input = BackboneInput(tokens: tokens)
            // Continuous motion: the recording's vectors through the run's trained projection.
            let vectorInputs = try model.motionInputs(encodings: { ["recording": encoding] }, features: { ["recording": features] })
            if let vectorInputs {
                try vectorInputs.load(from: adapterDirectory)
                input = try vectorInputs.input(tokens: tokens, trialID: "recording")
            }
            var generated: [Int] = []
            var printer = StreamingTextPrinter()
            let tokenizer = model.backbone.textTokenizer
            _ = try model.backbone.generate(input, options: GenerationOptions(maxNewTokens: maxTokens)) { id in
                generated.append(id)
                printer.update(GenerationEvaluation.answerText(generated, tokenizer: tokenizer))
                return true
            }
            let answer = GenerationEvaluation.answerText(generated, tokenizer: tokenizer)
            printer.finish(answer)
            print()
            guard let head else { return }
            print("\nread as task '\(head.id)': \(head.parse(answer: answer).map { "\($0)" } ?? "no answer the task can parse")")
            guard head.kind == .classification else { return }
            let maxLength = run.maxLength(model)
            guard let ranked = try AnswerRanking.likelihoods(prompt: prompt, trialID: "recording", task: head, model: model.trainable,
                                                             tokenizer: tokenizer, maxLength: maxLength, motion: vectorInputs) else {
                throw InputError(field: "question", "the question with this recording and the longest answer do not fit "
                                 + "\(maxLength) tokens (training.max_length \(run.recipe.training.maxLength), "
                                 + "context length \(model.backbone.contextLength)) even with the motion shortened")
            }
            let calibration = try trainingCalibration(directory, head: head, adapter: adapterDirectory)
            print("\nanswers ranked by likelihood" + (calibration.map { ", calibrated on \($0.questions) training questions" } ?? "") + ":")
            print(try AnswerRanking.table(ranked, offsets: calibration?.offsets))
        }
    }

    /// One of the task's prompts, the same whenever it is asked.
    private func fixedPrompt(of head: any TaskHead) -> String {
        var random = SeededRandom(seed: 0)
        return head.prompt(using: &random)
    }

    /// The calibration offsets of the evaluate stage (`rank_answers`): each class's mean
    /// negative log-likelihood over the repeat's ranked training questions of the task; nil
    /// when the run saved none, or saved them before the adapter was last trained.
    private func trainingCalibration(_ directory: RunDirectory, head: any TaskHead,
                                     adapter: URL) throws -> (offsets: [Double], questions: Int)? {
        let file = RunArtifacts.fineTuneDirectory(directory, repetition: repetition).appendingPathComponent("answer_rankings.jsonl")
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        let adapterFiles = (try? FileManager.default.contentsOfDirectory(at: adapter, includingPropertiesForKeys: nil)) ?? []
        guard FileDates.isCurrent(file, after: adapterFiles) else {
            print("\n(no calibration: \(file.path) is older than the adapter; run the evaluate stage again to renew it)")
            return nil
        }
        let training = try JSONLines.read(AnswerRanking.RankedQuestion.self, from: file)
            .filter { $0.record.split == .train && $0.record.task == head.id }
        guard let first = training.first else { return nil }
        guard first.answers.classes == head.classNames else {
            throw InputError(file: file.path, field: head.id,
                             "ranked with the classes \(first.answers.classes), but the task now has \(head.classNames); run the evaluate stage again")
        }
        do {
            guard let offsets = try AnswerRanking.calibrationOffsets(training)[head.id] else { return nil }
            return (offsets, training.count)
        } catch var error as InputError {
            error.file = file.path
            throw error
        }
    }

    /// The recording as one trial.
    private func loadRecording() throws -> Trial {
        let url = URL(fileURLWithPath: motion)
        guard FileManager.default.fileExists(atPath: url.path) else { throw InputError(file: motion, "no such file") }
        let name = url.lastPathComponent.lowercased()
        if format == nil, name.hasSuffix(".h5") || name.hasSuffix(".hdf5") {
            let dataset = try HDF5Store.read(url)
            if let trial {
                guard let found = dataset.trials.first(where: { $0.id == trial }) else {
                    throw InputError(file: motion, field: "--trial", "no trial '\(trial)' in this data set")
                }
                return found
            }
            guard let first = dataset.trials.first else { throw InputError(file: motion, "the data set has no trials") }
            return first
        }
        let chosen: ImportFormat
        if let format {
            guard let f = ImportFormat(rawValue: format) else {
                throw InputError(field: "--format", "unknown format '\(format)'", allowed: ImportFormat.allCases.map(\.rawValue))
            }
            chosen = f
        } else if let guessed = ImportFormat.guess(fileName: name) {
            chosen = guessed
        } else {
            throw InputError(file: motion, field: "--format", "cannot tell the format from the file name",
                             allowed: ImportFormat.allCases.map(\.rawValue))
        }
        let dataset = try Importers.importFiles(format: chosen, inputs: [url])
        guard let first = dataset.trials.first else { throw InputError(file: motion, "no trial in this file") }
        return first
    }
}
