import BiomechCore
import Foundation

/// Which side of a split a trial or participant is on.
/// A split of a data set's participants into training, validation and test sets.
///
/// Splits are always by participant: every trial of a person is on one side. A split is
/// seeded (the same participants, fractions and seed give the same split on every
/// machine) and saved as JSON in the run directory, so the tokenizer and the language
/// model use the identical split.
public struct ParticipantSplit: Sendable, Codable, Equatable {
    public var seed: UInt64
    public var train: [String]
    public var validation: [String]
    public var test: [String]
    /// How it was made, e.g. "fractions 0.8/0.1/0.1" or "fold 2 of 5".
    public var method: String

    public init(seed: UInt64, train: [String], validation: [String], test: [String], method: String) {
        self.seed = seed; self.train = train.sorted(); self.validation = validation.sorted(); self.test = test.sorted()
        self.method = method
    }

    /// Splits participants by fractions (test = the rest). Participants are shuffled with
    /// the seed; the counts are rounded so every side with a positive fraction gets at
    /// least one participant when there are enough.
    public static func make(participants: [String], train: Double, validation: Double, seed: UInt64) throws -> ParticipantSplit {
        guard train > 0, validation >= 0, train + validation <= 1 + 1e-9 else {
            throw InputError(field: "split", "fractions must satisfy train > 0, validation >= 0 and train + validation <= 1; got train \(train), validation \(validation)")
        }
        let ids = Array(Set(participants)).sorted()
        guard !ids.isEmpty else { throw InputError(field: "split", "the data set has no participants to split") }
        var rng = SeededRandom(seed: seed).derived("participant-split")
        let shuffled = ids.shuffled(using: &rng)
        let n = ids.count
        let testFraction = max(0, 1 - train - validation)
        var nVal = Int((validation * Double(n)).rounded())
        var nTest = Int((testFraction * Double(n)).rounded())
        if validation > 0 && nVal == 0 && n >= 3 { nVal = 1 }
        if testFraction > 1e-9 && nTest == 0 && n >= 3 { nTest = 1 }
        while nVal + nTest >= n && (nVal + nTest) > 0 { if nTest >= nVal && nTest > 0 { nTest -= 1 } else { nVal -= 1 } }
        let nTrain = n - nVal - nTest
        return ParticipantSplit(seed: seed, train: Array(shuffled[0..<nTrain]),
                                validation: Array(shuffled[nTrain..<(nTrain + nVal)]),
                                test: Array(shuffled[(nTrain + nVal)...]),
                                method: String(format: "fractions train %.4g, validation %.4g, test %.4g", train, validation, testFraction))
    }

    public static func make(_ dataset: MotionDataset, train: Double, validation: Double, seed: UInt64) throws -> ParticipantSplit {
        try make(participants: dataset.trials.map(\.participantID), train: train, validation: validation, seed: seed)
    }

    /// k-fold cross-validation by participant: fold i tests on the i-th group and trains on
    /// the rest (validation empty). Every participant is tested exactly once.
    public static func kFold(participants: [String], k: Int, seed: UInt64) throws -> [ParticipantSplit] {
        let ids = Array(Set(participants)).sorted()
        guard k >= 2 else { throw InputError(field: "folds", "k-fold needs k >= 2, got \(k)") }
        guard ids.count >= k else { throw InputError(field: "folds", "\(k) folds need at least \(k) participants; the data set has \(ids.count)") }
        var rng = SeededRandom(seed: seed).derived("participant-kfold")
        let shuffled = ids.shuffled(using: &rng)
        return (0..<k).map { fold in
            let test = shuffled.enumerated().filter { $0.offset % k == fold }.map(\.element)
            let train = shuffled.enumerated().filter { $0.offset % k != fold }.map(\.element)
            return ParticipantSplit(seed: seed, train: train, validation: [], test: test, method: "fold \(fold + 1) of \(k)")
        }
    }

    public static func kFold(_ dataset: MotionDataset, k: Int, seed: UInt64) throws -> [ParticipantSplit] {
        try kFold(participants: dataset.trials.map(\.participantID), k: k, seed: seed)
    }

    /// The side of a participant, or nil when the split does not know them.
    public func side(ofParticipant id: String) -> SplitSide? {
        if train.contains(id) { return .train }
        if validation.contains(id) { return .validation }
        if test.contains(id) { return .test }
        return nil
    }

    public func side(of trial: Trial) -> SplitSide? { side(ofParticipant: trial.participantID) }

    /// The trials of each side. A trial of a participant the split does not know is an error.
    public func partition(_ trials: [Trial]) throws -> [SplitSide: [Trial]] {
        if let id = repeatedParticipant {
            throw InputError(field: "split", "participant '\(id)' is listed twice; a participant belongs to one side")
        }
        let lookup = Dictionary(uniqueKeysWithValues:
            train.map { ($0, SplitSide.train) } + validation.map { ($0, .validation) } + test.map { ($0, .test) })
        var out: [SplitSide: [Trial]] = [.train: [], .validation: [], .test: []]
        for t in trials {
            guard let s = lookup[t.participantID] else {
                throw InputError(file: t.sourceFile, field: t.id, "participant '\(t.participantID)' is in no side of the split (was the split made from another data set?)")
            }
            out[s, default: []].append(t)
        }
        return out
    }

    /// The first participant listed twice (on two sides, or twice on one), if any.
    public var repeatedParticipant: String? {
        var seen = Set<String>()
        return (train + validation + test).first { !seen.insert($0).inserted }
    }

    /// True when no participant is on two sides.
    public var isDisjoint: Bool {
        let a = Set(train), b = Set(validation), c = Set(test)
        return a.isDisjoint(with: b) && a.isDisjoint(with: c) && b.isDisjoint(with: c)
    }

    public func save(to url: URL) throws { try AtomicFile.writeJSON(self, to: url) }

    public static func load(from url: URL) throws -> ParticipantSplit {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw InputError(file: url.path, "cannot read the split file") }
        let split: ParticipantSplit
        do { split = try JSONDecoder().decode(ParticipantSplit.self, from: data) } catch {
            throw InputError(file: url.path, "not a participant split (expected JSON with seed, train, validation, test, method): \(error)")
        }
        if let id = split.repeatedParticipant {
            throw InputError(file: url.path, field: id, "participant listed twice; each belongs to exactly one side of the split")
        }
        return split
    }
}
