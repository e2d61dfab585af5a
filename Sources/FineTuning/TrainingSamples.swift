import BiomechCore
import ClinicalTasks
import Foundation

/// One tokenized training example.
public struct TrainingSample: Sendable, Equatable {
    public var id: String
    public var trialID: String = ""
    public var tokens: [Int]
    /// Whether each token is a prediction target.
    public var lossMask: [Bool]
    /// Tokens of the prompt (the rest is the answer and its end of turn).
    public var promptLength: Int
    /// Continuous encodings: the positions of the `<motion_vec>` placeholders in `tokens`
    /// and, for each, the step of the trial's encoding it stands for (steps cut by
    /// truncation are absent). Empty for discrete motion tokens.
    public var vectorPositions: [Int] = []
    public var vectorSteps: [Int] = []
    /// Placeholders in the prompt before truncation: the trial's step count.
    public var vectorPlaceholderCount = 0
}

/// What tokenization did to a QA set.
public struct SamplePreparationReport: Sendable, Codable, Equatable {
    public var records = 0
    public var kept = 0
    /// Samples whose motion span was shortened (its middle removed) to fit `max_length`.
    public var truncated = 0
    /// Samples dropped because even the shortest motion span left them too long.
    public var dropped = 0
    public var droppedIDs: [String] = []
    public var longestTokens = 0
    public var totalTokens = 0
}

/// Tokenizes QA records for supervised fine-tuning.
///
/// A sample is `prompt` (the chat-rendered question with the model turn opened, beginning
/// with the literal `<bos>`) followed by the answer and `<end_of_turn>\n` (the rest of the
/// record's `text`). Prompt and completion are tokenized separately and concatenated, so
/// the boundary is exact.
///
/// Loss mask: every token after the first when `lossOnPrompt` (the paper's setting),
/// otherwise only the completion's tokens.
///
/// Truncation to `maxLength` never cuts the answer: when a sample is too long, tokens are
/// removed from the middle of its motion span (between `<motion_start>` and `<motion_end>`,
/// both kept, and at least one motion token on each side kept); if that cannot make it
/// fit — no motion span, or a completion that alone is too long — the sample is dropped
/// and counted.
public struct SamplePreparer {
    public var tokenizer: any TextTokenizer
    public var maxLength: Int
    public var lossOnPrompt: Bool
    /// The id of `<motion_vec>` when motion is continuous: its positions are recorded.
    public var vectorPlaceholder: Int?

    public init(tokenizer: any TextTokenizer, maxLength: Int, lossOnPrompt: Bool, vectorPlaceholder: Int? = nil) {
        self.tokenizer = tokenizer; self.maxLength = maxLength; self.lossOnPrompt = lossOnPrompt
        self.vectorPlaceholder = vectorPlaceholder
    }

    public func prepare(_ records: [QARecord]) -> (samples: [TrainingSample], report: SamplePreparationReport) {
        var report = SamplePreparationReport()
        report.records = records.count
        var out: [TrainingSample] = []
        for r in records {
            let completion = r.text.hasPrefix(r.prompt) ? String(r.text.dropFirst(r.prompt.count)) : r.answer + "<end_of_turn>\n"
            guard let (sample, truncated) = self.sample(id: r.id, trialID: r.trialID, prompt: r.prompt, completion: completion) else {
                report.dropped += 1; report.droppedIDs.append(r.id); continue
            }
            out.append(sample)
            report.kept += 1
            if truncated { report.truncated += 1 }
            report.longestTokens = max(report.longestTokens, sample.tokens.count)
            report.totalTokens += sample.tokens.count
        }
        return (out, report)
    }

    /// One sample: `prompt` then `completion` (each tokenized on its own), the motion span's
    /// middle cut when the two exceed `maxLength` (`truncated`); nil when even that cannot
    /// make them fit.
    public func sample(id: String, trialID: String, prompt promptText: String,
                       completion completionText: String) -> (sample: TrainingSample, truncated: Bool)? {
        var prompt = tokenizer.encode(promptText, addBOS: false)
        let completion = tokenizer.encode(completionText, addBOS: false)
        // The encoding step each placeholder stands for, cut together with the tokens.
        var steps: [Int] = []
        var placeholders = 0
        if let placeholder = vectorPlaceholder {
            steps = [Int](repeating: -1, count: prompt.count)
            for (i, id) in prompt.enumerated() where id == placeholder { steps[i] = placeholders; placeholders += 1 }
        }
        let excess = prompt.count + completion.count - maxLength
        if excess > 0 {
            guard let removed = Self.cutMotionMiddle(&prompt, excess: excess, start: tokenizer.id(ofPiece: MotionText.start),
                                                     end: tokenizer.id(ofPiece: MotionText.end)) else { return nil }
            if !steps.isEmpty { steps.removeSubrange(removed) }
        }
        let tokens = prompt + completion
        var mask = [Bool](repeating: lossOnPrompt, count: tokens.count)
        for i in prompt.count..<tokens.count { mask[i] = true }
        if !mask.isEmpty { mask[0] = false }
        var sample = TrainingSample(id: id, trialID: trialID, tokens: tokens, lossMask: mask, promptLength: prompt.count)
        sample.vectorPlaceholderCount = placeholders
        for (position, step) in steps.enumerated() where step >= 0 {
            sample.vectorPositions.append(position); sample.vectorSteps.append(step)
        }
        return (sample, excess > 0)
    }

    /// Removes `excess` tokens from the middle of the first motion span of `tokens` and
    /// returns the removed range; nil (leaving `tokens` unchanged) when the span is too short
    /// or absent.
    static func cutMotionMiddle(_ tokens: inout [Int], excess: Int, start: Int?, end: Int?) -> Range<Int>? {
        guard let start, let end, let s = tokens.firstIndex(of: start),
              let e = tokens[(s + 1)...].firstIndex(of: end) else { return nil }
        let interior = e - s - 1
        guard interior - excess >= 2 else { return nil }
        let keep = interior - excess
        let head = (keep + 1) / 2, tail = keep - head
        let removed = (s + 1 + head)..<(e - tail)
        tokens.removeSubrange(removed)
        return removed
    }
}
