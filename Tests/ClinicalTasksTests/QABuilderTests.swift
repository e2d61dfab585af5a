import BiomechCore
import ClinicalTasks
import Foundation
import Testing

func cohort() -> [QATrial] {
    var trials: [QATrial] = []
    let diagnoses = ["stroke", "prosthesis", "sci"]
    for p in 0..<10 {
        let impaired = p % 2 == 0
        for t in 0..<3 {
            var labels: [String: LabelValue] = ["impaired": .category(impaired ? "yes" : "no"),
                                                "activity": .category(t == 2 ? "tug" : "walking")]
            if impaired { labels["diagnosis"] = .category(diagnoses[p % 3]) }
            if t < 2 { labels["walking_speed"] = .number(1.0 + Double(p) / 10 + Double(t) / 100) }
            trials.append(QATrial(trialID: "p\(p)_t\(t)", participantID: "p\(p)", split: p < 7 ? .train : (p < 8 ? .validation : .test),
                                  labels: labels, encoding: .tokens([p, t, 511])))
        }
    }
    return trials
}

@Suite struct QABuilderTests {
    @Test func motionIsRenderedBetweenDelimiters() {
        #expect(MotionText.render(.tokens([17, 402])) == "<motion_start><motion_17><motion_402><motion_end>")
        #expect(MotionText.render(.vectors(count: 3, width: 2, values: [0, 0, 0, 0, 0, 0]))
                == "<motion_start><motion_vec><motion_vec><motion_vec><motion_end>")
        #expect(MotionText.vocabularyPieces(codebookSize: 512).count == 514)
    }

    @Test func gemmaTemplate() {
        let prompt = ChatTemplates.gemma([ChatTurn(.user, "Hi")], true)
        #expect(prompt == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
        let full = ChatTemplates.gemma([ChatTurn(.user, "Hi"), ChatTurn(.model, "Yes.")], false)
        #expect(full == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nYes.<end_of_turn>\n")
    }

    @Test func buildsRecordsForTasksThatApply() throws {
        let tasks = [try head(diagnosisYAML), try head(speedYAML)]
        let set = try QABuilder(tasks: tasks, seed: 7).build(cohort())
        // diagnosis: 5 impaired participants × 3 trials; speed: 10 participants × 2 walking trials.
        #expect(set.records.filter { $0.task == "diagnosis" }.count == 15)
        #expect(set.records.filter { $0.task == "walking_speed" }.count == 20)
        let record = try #require(set.records.first { $0.trialID == "p0_t1" && $0.task == "walking_speed" })
        #expect(record.prompt.hasPrefix("<bos><start_of_turn>user\nHow fast? <motion_start><motion_0><motion_1><motion_511><motion_end>"))
        #expect(record.prompt.hasSuffix("<start_of_turn>model\n"))
        #expect(record.answer == "The walking speed is 1.01 m/s.")
        #expect(record.text == record.prompt + record.answer + "<end_of_turn>\n")
        #expect(record.target == .number(1.01))
        // Splits in order, tasks interleaved within a split.
        let sides = set.records.map(\.split)
        #expect(sides == sides.sorted())
        let trainTasks = set.records(split: .train).map(\.task)
        let switches = zip(trainTasks, trainTasks.dropFirst()).filter { $0 != $1 }.count
        #expect(switches > 3)
    }

    @Test func sameSeedSameSetOtherSeedOtherOrder() throws {
        let tasks = [try head(diagnosisYAML), try head(speedYAML)]
        let a = try QABuilder(tasks: tasks, seed: 1).build(cohort())
        let b = try QABuilder(tasks: tasks, seed: 1).build(cohort())
        let c = try QABuilder(tasks: tasks, seed: 2).build(cohort())
        #expect(a.records == b.records)
        #expect(a.records.map(\.id) != c.records.map(\.id))
        // Both diagnosis templates are used.
        let templates = Set(a.records.filter { $0.task == "diagnosis" }.map { $0.prompt.contains("What is the diagnosis?") })
        #expect(templates.count == 2)
        // Prompts do not depend on which other trials are present.
        let fewer = try QABuilder(tasks: tasks, seed: 1).build(Array(cohort().prefix(6)))
        for r in fewer.records { #expect(a.records.first { $0.id == r.id }?.prompt == r.prompt) }
    }

    @Test func countsLikeTableOne() throws {
        let tasks = [try head(diagnosisYAML), try head(speedYAML)]
        let set = try QABuilder(tasks: tasks, seed: 3).build(cohort())
        let speed = try #require(set.counts.first { $0.task == "walking_speed" })
        #expect(speed.participants == ["train": 7, "validation": 1, "test": 2])
        #expect(speed.samples == ["train": 14, "validation": 2, "test": 4])
        let diagnosis = try #require(set.counts.first { $0.task == "diagnosis" })
        #expect(diagnosis.participants["train"] == 4)  // p0, p2, p4, p6
        #expect(set.counts.last?.task == "all")
        #expect(set.counts.last?.samples["test"] == 4 + 3)
        #expect(set.countsMarkdown.contains("| walking_speed | 7 | 1 | 2 | 14 | 2 | 4 |"))
    }

    @Test func writesAndReadsJSONLines() throws {
        let folder = try temporaryFolder()
        let set = try QABuilder(tasks: [try head(diagnosisYAML)], seed: 3).build(cohort())
        try set.write(to: folder)
        let back = try QASet.read(from: folder.appendingPathComponent("qa.jsonl"))
        #expect(back == set.records)
        let line = try String(contentsOf: folder.appendingPathComponent("qa.jsonl"), encoding: .utf8).split(separator: "\n")[0]
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(Set(object?.keys.map { $0 } ?? []) == ["id", "trial_id", "participant_id", "split", "task", "prompt", "answer", "target", "text"])
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("qa_counts.md").path))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("qa_counts.json").path))
    }

    @Test func duplicateTrialIdsAreErrors() throws {
        let trials = cohort()
        #expect(throws: InputError.self) { try QABuilder(tasks: [try head(diagnosisYAML)], seed: 1).build(trials + [trials[0]]) }
    }

    /// A student's new task: a YAML file in a folder of their own, loaded beside the shipped
    /// tasks, asked of the trials, answered and scored.
    @Test func aTaskAddedFromAYAMLFileRunsEndToEnd() throws {
        let folder = try temporaryFolder()
        try """
        # My new task: does the trial show a TUG?
        id: is_tug
        kind: classification
        label: activity
        classes:
          tug: [timed up and go, TUG]
          walking: [walking, plain walking]
        prompts:
          - "<motion> Is this a Timed Up and Go or plain walking?"
        answer: "This is {class}."
        """.write(to: folder.appendingPathComponent("is_tug.yaml"), atomically: true, encoding: .utf8)
        let catalog = try TaskCatalog.load(folders: [TaskCatalog.shippedFolder(root: repositoryRoot), folder])
        let specs = try catalog.select(["is_tug", "impaired"])
        let tasks = try TaskCatalog.heads(for: specs, registry: taskRegistry)
        let set = try QABuilder(tasks: tasks, seed: 11).build(cohort())
        #expect(set.records.filter { $0.task == "is_tug" }.count == 30)
        #expect(set.records.first { $0.task == "is_tug" && $0.target == .category("tug") }?.answer == "This is timed up and go.")
        // Answer every test question: the reference answer, except one unparseable.
        var predictions: [PredictionRecord] = []
        for (i, r) in set.records(split: .test).enumerated() {
            let task = tasks.first { $0.id == r.task }!
            let raw = i == 0 ? "no idea" : r.answer
            predictions.append(PredictionRecord(task: r.task, trialID: r.trialID, participantID: r.participantID, split: r.split,
                                                model: "oracle", target: r.target, prediction: task.parse(answer: raw), rawAnswer: raw))
        }
        let scores = try Scoring.score(predictions, tasks: specs.map(TaskInfo.init))
        #expect(scores.reduce(0) { $0 + $1.unparseable } == 1)
        let other = scores.first { $0.task != predictions[0].task }!
        #expect(other.headline == 1)
    }
}
