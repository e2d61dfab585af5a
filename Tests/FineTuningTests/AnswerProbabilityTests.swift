import BiomechCore
import ClinicalTasks
import Foundation
import Testing
@testable import FineTuning

/// The probabilities and the table `biomechgpt ask --task` prints from ranked answers.
struct AnswerProbabilityTests {
    private func question(_ classes: [String], _ nll: [Double]) -> AnswerLikelihoods {
        AnswerLikelihoods(classes: classes, negativeLogLikelihoods: nll)
    }

    private func ranked(_ classes: [String], _ nll: [Double]) -> AnswerRanking.RankedQuestion {
        let record = QARecord(id: "q", trialID: "t", participantID: "p", split: .test, task: "task", prompt: "?",
                              answer: "", target: .category(classes[0]), text: "?")
        return .init(record: .init(record), answers: question(classes, nll))
    }

    /// Softmax of the negative log-likelihoods: answers e^-1 and e^-(1+ln 3) likely are 3 : 1.
    @Test func probabilitiesAreTheSoftmaxOfTheLikelihoods() {
        let q = question(["a", "b"], [1, 1 + log(3)])
        let p = q.probabilities()
        #expect(abs(p[0] - 0.75) < 1e-12 && abs(p[1] - 0.25) < 1e-12)
        // Calibration subtracts each class's offset first: here it cancels the difference.
        let calibrated = q.probabilities(subtracting: [0, log(3)])
        #expect(abs(calibrated[0] - 0.5) < 1e-12 && abs(calibrated[1] - 0.5) < 1e-12)
    }

    /// Likelihoods far below e^-700 still give probabilities (no underflow to 0/0).
    @Test func probabilitiesOfVeryUnlikelyAnswersStayFinite() {
        let p = question(["a", "b", "c"], [1000, 1001, 2000]).probabilities()
        let e = exp(-1.0)
        #expect(abs(p[0] - 1 / (1 + e)) < 1e-12 && abs(p[1] - e / (1 + e)) < 1e-12 && p[2] == 0)
        #expect(abs(p.reduce(0, +) - 1) < 1e-12)
    }

    /// Rows run from the most to the least likely answer — by the calibrated likelihoods when
    /// offsets are given — with a calibrated column only then.
    @Test func tableListsTheMostLikelyAnswerFirst() throws {
        let q = question(["walking", "standing", "turning"], [2, 0.5, 30])
        let plain = try AnswerRanking.table(q).split(separator: "\n").map(String.init)
        #expect(plain.count == 4 && !plain[0].contains("calibrated"))
        #expect(plain[1].hasPrefix("  standing ") && plain[2].hasPrefix("  walking ") && plain[3].hasPrefix("  turning "))
        #expect(plain[1].contains("0.818") && plain[1].hasSuffix("0.500"))  // 1 / (1 + e^-1.5)
        let calibrated = try AnswerRanking.table(q, offsets: [2, 0, 0]).split(separator: "\n").map(String.init)
        #expect(calibrated[0].contains("calibrated"))
        #expect(calibrated[1].hasPrefix("  walking ") && calibrated[2].hasPrefix("  standing "))
    }

    /// Offsets for a different number of classes (rankings saved before the task changed) are
    /// an error, not a short zip or an index out of range.
    @Test func mismatchedOffsetsAndMalformedRankingsAreErrors() {
        let q = question(["a", "b", "c"], [1, 2, 3])
        #expect(throws: InputError.self) { try AnswerRanking.table(q, offsets: [0, 0]) }
        // A saved line whose likelihoods do not match its classes, first of its task.
        #expect(throws: InputError.self) { try AnswerRanking.calibrationOffsets([ranked(["a", "b"], [1])]) }
    }

    /// A rankings line holds the record's identity and target and the likelihoods side by
    /// side, not the prompt; a line written with the whole QA record (older runs) still reads.
    @Test func rankingsLinesKeepTheRecordsIdentityAndReadOlderLines() throws {
        let q = ranked(["no", "yes"], [0.25, 1.5])
        let line = try #require(String(data: try JSONEncoder().encode(q), encoding: .utf8))
        #expect(line.contains("\"negative_log_likelihoods\"") && line.contains("\"trial_id\":\"t\"") && !line.contains("prompt"))
        #expect(try JSONDecoder().decode(AnswerRanking.RankedQuestion.self, from: Data(line.utf8)) == q)
        let older = #"{"record":{"id":"q","trial_id":"t","participant_id":"p","split":"test","task":"task","prompt":"?","answer":"","target":"no","text":"?"},"classes":["no","yes"],"negative_log_likelihoods":[0.25,1.5]}"#
        #expect(try JSONDecoder().decode(AnswerRanking.RankedQuestion.self, from: Data(older.utf8)) == q)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(AnswerRanking.RankedQuestion.self, from: Data(#"{"record":{"id":"q"},"classes":[]}"#.utf8))
        }
    }
}
