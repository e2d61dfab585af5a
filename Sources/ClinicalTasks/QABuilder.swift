import BiomechCore
import Foundation

/// Renders a chat as a backbone's template does: `(turns, openModelTurn) -> text`.
public typealias ChatTemplate = @Sendable ([ChatTurn], Bool) -> String

public enum ChatTemplates {
    /// Gemma's template: `<bos><start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n`,
    /// then the answer and `<end_of_turn>\n`. Gemma has no system role: a system turn is
    /// prepended to the first user turn. Backbones supply their own; this one serves tests
    /// and tools that run without a backbone.
    public static let gemma: ChatTemplate = { turns, openModelTurn in
        var text = "<bos>"
        var pendingSystem: String?
        for turn in turns {
            switch turn.role {
            case .system: pendingSystem = (pendingSystem.map { $0 + "\n\n" } ?? "") + turn.text
            case .user:
                let body = pendingSystem.map { $0 + "\n\n" + turn.text } ?? turn.text
                pendingSystem = nil
                text += "<start_of_turn>user\n\(body)<end_of_turn>\n"
            case .model: text += "<start_of_turn>model\n\(turn.text)<end_of_turn>\n"
            }
        }
        if openModelTurn { text += "<start_of_turn>model\n" }
        return text
    }
}

/// How motion appears in prompt text.
///
/// Discrete tokens: `<motion_start><motion_17><motion_402>…<motion_end>` (one piece per
/// token id). Continuous encodings: one placeholder piece `<motion_vec>` per step between the
/// same delimiters; the backbone replaces the embedding at each placeholder's position with the
/// step's vector (`BackboneInput.vectorPositions`).
public enum MotionText {
    public static let start = "<motion_start>"
    public static let end = "<motion_end>"
    public static let vectorPiece = "<motion_vec>"
    public static func tokenPiece(_ id: Int) -> String { "<motion_\(id)>" }

    /// The pieces a backbone must add to its vocabulary for a codebook of `codebookSize`.
    public static func vocabularyPieces(codebookSize: Int) -> [String] {
        [start, end] + (0..<codebookSize).map(tokenPiece)
    }

    /// The pieces a backbone must add for continuous encodings: the delimiters and the
    /// placeholder whose embedding each step's vector replaces.
    public static let vectorVocabularyPieces = [start, end, vectorPiece]

    public static func render(_ encoding: MotionEncoding) -> String {
        var text = start
        switch encoding {
        case .tokens(let ids):
            text.reserveCapacity(ids.count * 12 + 30)
            for id in ids { text += "<motion_\(id)>" }
        case .vectors(let count, _, _):
            text += String(repeating: vectorPiece, count: count)
        }
        return text + end
    }
}

/// A trial as the QA builder sees it.
public struct QATrial: Sendable {
    public var trialID: String
    public var participantID: String
    public var split: SplitSide
    public var labels: [String: LabelValue]
    public var encoding: MotionEncoding
    public init(trialID: String, participantID: String, split: SplitSide, labels: [String: LabelValue], encoding: MotionEncoding) {
        self.trialID = trialID; self.participantID = participantID; self.split = split
        self.labels = labels; self.encoding = encoding
    }

    /// A data set trial on a side of the split, with its motion encoding.
    public init(_ trial: Trial, split: SplitSide, encoding: MotionEncoding) {
        self.init(trialID: trial.id, participantID: trial.participantID, split: split, labels: trial.labels, encoding: encoding)
    }
}

/// One question–answer pair (a line of the QA JSON Lines file).
public struct QARecord: Sendable, Codable, Equatable {
    public var id: String
    public var trialID: String
    public var participantID: String
    public var split: SplitSide
    public var task: String
    /// The question rendered with the chat template, the model's turn opened.
    public var prompt: String
    /// The reference answer.
    public var answer: String
    /// The truth: a class name or a number.
    public var target: LabelValue
    /// The whole conversation (prompt, answer, end of turn) for training.
    public var text: String

    public init(id: String, trialID: String, participantID: String, split: SplitSide, task: String, prompt: String,
                answer: String, target: LabelValue, text: String) {
        self.id = id; self.trialID = trialID; self.participantID = participantID; self.split = split; self.task = task
        self.prompt = prompt; self.answer = answer; self.target = target; self.text = text
    }

    enum CodingKeys: String, CodingKey {
        case id, trialID = "trial_id", participantID = "participant_id", split, task, prompt, answer, target, text
    }
}

/// Per task: participants and samples on each side of the split (the paper's Table 1).
public struct TaskCounts: Sendable, Codable, Equatable {
    public var task: String
    public var participants: [String: Int]
    public var samples: [String: Int]
}

/// Builds the multimodal QA set: for each trial and each task that applies, a prompt
/// template sampled with the run's seed, the motion span in place of `<motion>`, the
/// backbone's chat template, and the reference answer. Records of all tasks are shuffled
/// together within each split (tasks interleaved), in train, validation, test order.
///
/// The template drawn for a (task, trial, repeat) comes from its own sub-stream of the seed,
/// so adding trials or tasks does not change the prompts of the others.
public struct QABuilder: Sendable {
    public var tasks: [any TaskHead]
    public var seed: UInt64
    public var chatTemplate: ChatTemplate
    /// Questions per trial and task (each with its own sampled template).
    public var questionsPerTrial: Int
    /// An optional system turn placed before each question.
    public var systemPrompt: String?

    public init(tasks: [any TaskHead], seed: UInt64, chatTemplate: @escaping ChatTemplate = ChatTemplates.gemma,
                questionsPerTrial: Int = 1, systemPrompt: String? = nil) {
        self.tasks = tasks; self.seed = seed; self.chatTemplate = chatTemplate
        self.questionsPerTrial = questionsPerTrial; self.systemPrompt = systemPrompt
    }

    public func build(_ trials: [QATrial]) throws -> QASet {
        let root = SeededRandom(seed: seed).derived("qa-builder")
        var bySplit: [SplitSide: [QARecord]] = [:]
        var seenTrials = Set<String>()
        for trial in trials {
            guard seenTrials.insert(trial.trialID).inserted else {
                throw InputError(field: trial.trialID, "trial id '\(trial.trialID)' appears twice in the QA builder's input")
            }
            let motion = MotionText.render(trial.encoding)
            for task in tasks where task.applies(to: trial.labels) {
                guard let target = task.target(from: trial.labels) else { continue }
                for k in 0..<max(1, questionsPerTrial) {
                    var random = root.derived("\(task.id)/\(trial.trialID)/\(k)")
                    let template = task.prompt(using: &random)
                    let question = template.replacingOccurrences(of: motionPlaceholder, with: motion)
                    var turns: [ChatTurn] = []
                    if let systemPrompt { turns.append(ChatTurn(.system, systemPrompt)) }
                    turns.append(ChatTurn(.user, question))
                    let answer = task.answer(for: target)
                    let record = QARecord(
                        id: "\(task.id)/\(trial.trialID)/\(k)", trialID: trial.trialID, participantID: trial.participantID,
                        split: trial.split, task: task.id, prompt: chatTemplate(turns, true), answer: answer,
                        target: target, text: chatTemplate(turns + [ChatTurn(.model, answer)], false))
                    bySplit[trial.split, default: []].append(record)
                }
            }
        }
        var records: [QARecord] = []
        for side in SplitSide.allCases {
            var part = bySplit[side] ?? []
            var random = root.derived("shuffle/\(side.rawValue)")
            part.shuffle(using: &random)
            records += part
        }
        return QASet(records: records, taskIDs: tasks.map(\.id))
    }
}

/// A built QA set with its Table-1 counts.
public struct QASet: Sendable {
    public var records: [QARecord]
    public var taskIDs: [String]

    public init(records: [QARecord], taskIDs: [String]) { self.records = records; self.taskIDs = taskIDs }

    public func records(split: SplitSide) -> [QARecord] { records.filter { $0.split == split } }

    /// Participants and samples per task and split; the last row, `all`, counts distinct
    /// participants and all samples.
    public var counts: [TaskCounts] {
        func row(_ name: String, _ rows: [QARecord]) -> TaskCounts {
            var participants: [String: Int] = [:], samples: [String: Int] = [:]
            for side in SplitSide.allCases {
                let part = rows.filter { $0.split == side }
                participants[side.rawValue] = Set(part.map(\.participantID)).count
                samples[side.rawValue] = part.count
            }
            return TaskCounts(task: name, participants: participants, samples: samples)
        }
        return taskIDs.map { id in row(id, records.filter { $0.task == id }) } + [row("all", records)]
    }

    /// The counts as a Markdown table shaped like the paper's Table 1.
    public var countsMarkdown: String {
        let rows = counts
        let showValidation = rows.contains { ($0.samples["validation"] ?? 0) > 0 }
        let sides = showValidation ? ["train", "validation", "test"] : ["train", "test"]
        var lines = ["| task | " + sides.map { "participants (\($0))" }.joined(separator: " | ") + " | "
                     + sides.map { "samples (\($0))" }.joined(separator: " | ") + " |"]
        lines.append("|---|" + String(repeating: "---:|", count: sides.count * 2))
        for r in rows {
            let name = r.task == "all" ? "**all**" : r.task
            lines.append("| \(name) | " + sides.map { String(r.participants[$0] ?? 0) }.joined(separator: " | ") + " | "
                         + sides.map { String(r.samples[$0] ?? 0) }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the records as JSON Lines (atomically).
    public func writeJSONLines(to url: URL) throws { try JSONLines.write(records, to: url) }

    /// The records' file in a folder written by ``write(to:)``.
    public static let fileName = "qa.jsonl"

    /// Writes `qa.jsonl`, `qa_counts.md` and `qa_counts.json` into a folder.
    public func write(to directory: URL) throws {
        try writeJSONLines(to: directory.appendingPathComponent(Self.fileName))
        try AtomicFile.write(countsMarkdown, to: directory.appendingPathComponent("qa_counts.md"))
        try AtomicFile.writeJSON(counts, to: directory.appendingPathComponent("qa_counts.json"))
    }

    public static func read(from url: URL) throws -> [QARecord] { try JSONLines.read(QARecord.self, from: url) }
}

/// JSON Lines reading and writing with located errors.
public enum JSONLines {
    public static func encode<T: Encodable>(_ items: [T]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for item in items {
            data.append(try encoder.encode(item))
            data.append(0x0A)
        }
        return data
    }

    public static func write<T: Encodable>(_ items: [T], to url: URL) throws {
        try AtomicFile.write(encode(items), to: url)
    }

    public static func read<T: Decodable>(_ type: T.Type, from url: URL) throws -> [T] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, "could not read the file: \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        var items: [T] = []
        var lineNumber = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do { items.append(try decoder.decode(T.self, from: Data(line))) } catch {
                throw InputError(file: url.path, line: lineNumber, "not a valid \(T.self) record: \(describe(error))")
            }
        }
        return items
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "field '\(path)': ") + context.debugDescription
        default: return "\(error)"
        }
    }
}
