import BiomechCore
import BiomechRecipes
import Foundation
import Testing
@testable import BiomechPipeline

private final class Counter: @unchecked Sendable {
    var runs: [String] = []
}

private struct Recording: StageExecutor {
    let name: String
    let counter: Counter
    let fail: Bool
    func run(_ context: RunContext) throws -> [String: String] {
        counter.runs.append(context.runsSomeRepeats ? "\(name)\(context.repetitions)" : name)
        if fail { throw InputError(field: name, "failed on purpose") }
        return ["ok": "1"]
    }
}

@Suite struct PipelineTests {
    private func recipe(repeats: Int = 1) throws -> Recipe {
        let yaml = "name: t\nrepeats: \(repeats)\nstages: [data, tokenizer]\ndata: {source: synthetic}\nrepresentation: r\ntokenizer: t\n"
        return try ConfigDecoder.decode(Recipe.self, from: try YAMLConfigLoader.parse(yaml, file: "t.yaml"))
    }

    private func context() throws -> RunContext {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("runs-\(UUID().uuidString)").path
        return RunContext(recipe: try recipe(), directory: try RunDirectory.create(root: root, name: "t"), registry: PluginRegistry())
    }

    /// `run --repeat`: per-repeat stages run for the chosen repeats and are recorded per
    /// repeat; other stages as usual; a later run of all repeats runs the per-repeat stage again.
    @Test func someRepeatsAreRecordedPerRepeat() throws {
        let counter = Counter()
        let pipeline = Pipeline(executors: [.data: Recording(name: "data", counter: counter, fail: false),
                                            .finetune: Recording(name: "finetune", counter: counter, fail: false)])
        let three = try recipe(repeats: 3)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("runs-\(UUID().uuidString)").path
        let directory = try RunDirectory.create(root: root, name: "t")
        func context(_ repeats: [Int]?) -> RunContext {
            RunContext(recipe: three, directory: directory, registry: PluginRegistry(), repetitions: repeats)
        }
        try pipeline.run(context([1]), stages: [.data, .finetune])
        #expect(directory.isComplete("data") && directory.isComplete("finetune-r1"))
        #expect(!directory.isComplete("finetune") && !directory.isComplete("finetune-r0"))
        try pipeline.run(context([1]), stages: [.data, .finetune])  // both skipped now
        try pipeline.run(context([1, 2]), stages: [.finetune])      // r2 is not done yet
        try pipeline.run(context([2]), stages: [.finetune])         // skipped: r2 recorded above
        try pipeline.run(context(nil), stages: [.finetune])         // r0 is missing
        try pipeline.run(context(nil), stages: [.finetune])         // skipped
        #expect(counter.runs == ["data[1]", "finetune[1]", "finetune[1, 2]", "finetune"])
        #expect(context(nil).repetitions == [0, 1, 2] && !context(nil).runsSomeRepeats && context([0, 1]).runsSomeRepeats)
    }

    @Test func repeatChoicesAreParsedAndChecked() throws {
        #expect(try RunContext.repetitions(parsing: "2, 0,2", field: "--repeat", repeats: 3) == [0, 2])
        for bad in ["3", "-1", "one", "1,,2", ""] {
            let error = #expect(throws: InputError.self) { try RunContext.repetitions(parsing: bad, field: "--repeat", repeats: 3) }
            #expect(error?.field == "--repeat" && error?.message.contains("0 to 2") == true)
        }
    }

    @Test func resumeSkipsCompletedStagesAndRerunsTheFailedOne() throws {
        let ctx = try context()
        let counter = Counter()
        let failing = Pipeline(executors: [.data: Recording(name: "data", counter: counter, fail: false),
                                           .tokenizer: Recording(name: "tokenizer", counter: counter, fail: true)])
        #expect(throws: InputError.self) { try failing.run(ctx, stages: [.data, .tokenizer]) }
        #expect(ctx.directory.isComplete("data"))
        #expect(!ctx.directory.isComplete("tokenizer"))
        let fixed = Pipeline(executors: [.data: Recording(name: "data", counter: counter, fail: false),
                                         .tokenizer: Recording(name: "tokenizer", counter: counter, fail: false)])
        try fixed.run(ctx, stages: [.data, .tokenizer])
        #expect(counter.runs == ["data", "tokenizer", "tokenizer"])
        #expect(ctx.directory.completedRecord("tokenizer")?.summary["ok"] == "1")
    }

    @Test func missingStageImplementationIsAClearError() throws {
        let error = #expect(throws: InputError.self) {
            try Pipeline(executors: [:]).checkAvailable([.data, .finetune], recipeFile: "r.yaml")
        }
        #expect(error?.file == "r.yaml")
        #expect(error?.message.contains("'finetune'") == true)
    }

    @Test func encodingLinesAreCheckedNotTrusted() throws {
        let good = EncodingRecord(trialID: "t", participantID: "p", split: .train, encoding: .vectors(count: 2, width: 3, values: [1, 2, 3, 4, 5, 6]))
        #expect(try good.encoding(file: "e.jsonl") == .vectors(count: 2, width: 3, values: [1, 2, 3, 4, 5, 6]))
        #expect(try EncodingRecord(trialID: "t", participantID: "p", split: .test, encoding: .tokens([3, 1])).encoding(file: "e") == .tokens([3, 1]))
        var noWidth = good, negativeWidth = good, ragged = good, wrongCount = good
        noWidth.vectorWidth = nil; negativeWidth.vectorWidth = -3; ragged.vectors = [1, 2, 3, 4]; wrongCount.vectorCount = 5
        for broken in [noWidth, negativeWidth, ragged, wrongCount] {
            let error = #expect(throws: InputError.self) { try broken.encoding(file: "e.jsonl") }
            #expect(error?.file == "e.jsonl" && error?.field == "t")
        }
    }

    @Test func derivedGeneratorsAreStableAndIndependent() throws {
        let ctx = try context()
        var a = ctx.random("split"), b = ctx.random("split"), c = ctx.random("qa")
        #expect(a.next() == b.next())
        #expect(a.next() != c.next())
    }

    /// Evaluation keeps a predictions file only when it is newer than every input file.
    @Test func predictionsAreKeptOnlyWhenNewerThanTheAdapter() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("eval-\(UUID().uuidString)")
        let adapter = root.appendingPathComponent("adapter")
        try fm.createDirectory(at: adapter, withIntermediateDirectories: true)
        let predictions = root.appendingPathComponent("biomechgpt-r0.jsonl")
        let weights = adapter.appendingPathComponent("adapter_model.safetensors")
        #expect(!FileDates.isCurrent(predictions, after: [weights]))  // neither exists yet
        try Data([1]).write(to: weights)
        try Data([2]).write(to: predictions)
        let t = Date()
        try fm.setAttributes([.modificationDate: t.addingTimeInterval(-60)], ofItemAtPath: weights.path)
        try fm.setAttributes([.modificationDate: t], ofItemAtPath: predictions.path)
        #expect(FileDates.isCurrent(predictions, after: [weights]))
        #expect(!FileDates.isCurrent(predictions, after: [weights, root.appendingPathComponent("missing")]))
        try fm.setAttributes([.modificationDate: t.addingTimeInterval(60)], ofItemAtPath: weights.path)  // re-trained
        #expect(!FileDates.isCurrent(predictions, after: [weights]))
    }
}
