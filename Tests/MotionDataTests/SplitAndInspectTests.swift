import BiomechCore
import CohortSimulator
import Foundation
import Testing
@testable import MotionData

@Suite struct SplitTests {
    let ids = (1...40).map { String(format: "p%02d", $0) }

    @Test func fractionsAreSeededAndDisjoint() throws {
        let a = try ParticipantSplit.make(participants: ids, train: 0.8, validation: 0.1, seed: 5)
        let b = try ParticipantSplit.make(participants: ids.reversed(), train: 0.8, validation: 0.1, seed: 5)
        let c = try ParticipantSplit.make(participants: ids, train: 0.8, validation: 0.1, seed: 6)
        #expect(a == b)
        #expect(a != c)
        #expect((a.train.count, a.validation.count, a.test.count) == (32, 4, 4))
        #expect(a.isDisjoint)
        #expect(Set(a.train + a.validation + a.test) == Set(ids))
        let paper = try ParticipantSplit.make(participants: ids, train: 0.9, validation: 0, seed: 1)
        #expect(paper.validation.isEmpty && paper.test.count == 4)
    }

    @Test func kFoldTestsEveryoneOnce() throws {
        let folds = try ParticipantSplit.kFold(participants: ids, k: 3, seed: 2)
        #expect(folds.count == 3)
        #expect(folds.flatMap(\.test).sorted() == ids)
        #expect(folds.allSatisfy { $0.isDisjoint && $0.train.count + $0.test.count == 40 })
        #expect(throws: InputError.self) { try ParticipantSplit.kFold(participants: ["a"], k: 2, seed: 1) }
    }

    @Test func badFractionsAndSaveLoad() throws {
        #expect(throws: InputError.self) { try ParticipantSplit.make(participants: ids, train: 0.9, validation: 0.2, seed: 1) }
        #expect(throws: InputError.self) { try ParticipantSplit.make(participants: [], train: 0.8, validation: 0.1, seed: 1) }
        let s = try ParticipantSplit.make(participants: ids, train: 0.7, validation: 0.15, seed: 9)
        let url = temporaryDirectory().appendingPathComponent("run/split.json")
        try s.save(to: url)
        #expect(try ParticipantSplit.load(from: url) == s)
        let bad = write("{\"train\": 3}", "bad.json", in: temporaryDirectory())
        let e = #expect(throws: InputError.self) { try ParticipantSplit.load(from: bad) }
        #expect(e?.file == bad.path)
        // A participant on two sides (an edited split file) is an error naming them, not a trap.
        var twice = s; twice.test.append(s.train[0])
        try twice.save(to: url)
        let e2 = #expect(throws: InputError.self) { try ParticipantSplit.load(from: url) }
        #expect(e2?.file == url.path && e2?.field == s.train[0])
        #expect(throws: InputError.self) { try twice.partition([]) }
    }

    /// No participant on two sides, for every shipped data set.
    @Test func noParticipantOnTwoSides() throws {
        var sets: [MotionDataset] = [try CohortSimulator.generate(CohortConfiguration(participants: 30, seed: 4))]
        for d in [try Shared.uiPRMD, try Shared.fgdi, try Shared.opensim, try Shared.locomujoco] { if let d { sets.append(d) } }
        for d in sets {
            let splits = [try ParticipantSplit.make(d, train: 0.6, validation: 0.2, seed: 11)]
                + (d.participantIDs.count >= 2 ? try ParticipantSplit.kFold(d, k: 2, seed: 3) : [])
            for split in splits {
                let parts = try split.partition(d.trials)
                var side: [String: SplitSide] = [:]
                for (s, trials) in parts {
                    for t in trials {
                        if let other = side[t.participantID] { #expect(other == s, "participant \(t.participantID) of \(d.name) on \(other) and \(s)") }
                        side[t.participantID] = s
                    }
                }
                #expect(parts.values.map(\.count).reduce(0, +) == d.trials.count)
            }
        }
    }
}

@Suite struct InspectTests {
    @Test func summaryAndPlot() throws {
        let d = try CohortSimulator.generate(CohortConfiguration(participants: 6, seed: 2))
        let s = DatasetSummary(d)
        #expect(s.trials == d.trials.count && s.participants == 6)
        #expect(s.frameRates == ["30": d.trials.count])
        let activity = try #require(s.labels.first { $0.name == "activity" })
        #expect(activity.categories?["walking"] == 12)
        #expect(s.labelsByActivity?["tug"]?.contains { $0.name == "tug_time" && $0.numbers != nil } == true)
        let json = try JSONEncoder().encode(s)
        #expect(json.count > 100)
        #expect(s.text.contains("participants: 6"))
        let svg = try TrialPlot.svg(d.trials[0])
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains("knee_angle_r"))
        let e = #expect(throws: InputError.self) { try TrialPlot.svg(d.trials[0], channels: ["nope"]) }
        #expect(e?.field == "--channels")
    }
}
