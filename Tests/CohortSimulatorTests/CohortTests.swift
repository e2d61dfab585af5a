import BiomechCore
import Foundation
import Testing
@testable import CohortSimulator
@testable import MotionData

enum Cohort {
    static let config = CohortConfiguration(participants: 120, seed: 42)
    static let dataset: MotionDataset = try! CohortSimulator.generate(config)
    static let profiles: [String: ParticipantProfile] = Dictionary(uniqueKeysWithValues: CohortSimulator.profiles(config).map { ($0.id, $0) })
}

func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(xs.count, 1)) }

@Suite struct CohortTests {
    let d = Cohort.dataset

    @Test func sameSeedSameCohort() throws {
        let a = try CohortSimulator.generate(CohortConfiguration(participants: 5, seed: 9))
        let b = try CohortSimulator.generate(CohortConfiguration(participants: 5, seed: 9))
        let c = try CohortSimulator.generate(CohortConfiguration(participants: 5, seed: 10))
        #expect(a.trials.map(\.values) == b.trials.map(\.values))
        #expect(a.trials.map(\.labels) == b.trials.map(\.labels))
        #expect(a.trials.map(\.values) != c.trials.map(\.values))
        #expect(throws: InputError.self) { try CohortSimulator.generate(CohortConfiguration(participants: 0, seed: 1)) }
    }

    @Test func trialsAreInCanonicalCoordinatesAndModestLength() {
        #expect(d.trials.count == 120 * 7)
        for t in d.trials {
            #expect(t.channels.map(\.name) == BiomechModelPose.datasetChannelNames)
            #expect(t.frameRate == 30)
            #expect(t.duration >= 3 && t.duration <= 36, "\(t.id) lasts \(t.duration) s")
        }
    }

    @Test func labelsFollowTheAgreedKeysAndValues() {
        let allowed: [String: Set<String>] = [
            "activity": ["walking", "tug", "fsst", "sit_to_stand", "standing", "turning"],
            "impaired": ["yes", "no"],
            "diagnosis": ["stroke", "prosthesis", "sci", "tbi", "parkinsons"],
            "amputation_level": ["transfemoral", "transtibial"],
            "assistive_device": ["none", "cane", "crutches", "walker", "rollator"],
            "fall_history": ["yes", "no"],
            "sex": ["female", "male"],
        ]
        let numeric: [String: String] = ["walking_speed": "walking", "cadence": "walking", "tug_time": "tug", "fsst_time": "fsst"]
        for t in d.trials {
            for (k, v) in t.labels {
                if let set = allowed[k] { #expect(v.category.map(set.contains) == true, "\(t.id) \(k)=\(v)") }
                else if let activity = numeric[k] {
                    #expect(t.labels["activity"] == .category(activity))
                    #expect((v.number ?? -1) > 0)
                } else { #expect(k == "age") }
            }
            let impaired = t.labels["impaired"] == .category("yes")
            #expect((t.labels["diagnosis"] != nil) == impaired)
            let prosthesis = t.labels["diagnosis"] == .category("prosthesis")
            #expect((t.labels["amputation_level"] != nil) == prosthesis)
            #expect((t.labels["fall_history"] != nil) == prosthesis)
            if t.labels["activity"] == .category("walking") { #expect(t.labels["walking_speed"] != nil && t.labels["cadence"] != nil) }
        }
        let diagnoses = Set(d.trials.compactMap { $0.labels["diagnosis"]?.category })
        #expect(diagnoses.count == 5)
        let devices = Set(d.trials.compactMap { $0.labels["assistive_device"]?.category })
        #expect(devices.count >= 4)
    }

    func values(_ key: String, _ group: (Trial) -> Bool) -> [Double] {
        d.trials.filter(group).compactMap { $0.labels[key]?.number }
    }

    @Test func clinicalMeasuresArePlausibleAndOrdered() {
        let healthy: (Trial) -> Bool = { $0.labels["impaired"] == .category("no") }
        func dx(_ x: String) -> (Trial) -> Bool { { $0.labels["diagnosis"] == .category(x) } }
        let hs = values("walking_speed", healthy), ss = values("walking_speed", dx("stroke"))
        #expect(mean(hs) > 1.05 && mean(hs) < 1.5)
        #expect(mean(ss) > 0.4 && mean(ss) < 0.9)
        #expect(values("walking_speed") { _ in true }.allSatisfy { $0 > 0.2 && $0 < 2.0 })
        let hc = values("cadence", healthy)
        #expect(mean(hc) > 100 && mean(hc) < 122)
        #expect(values("cadence") { _ in true }.allSatisfy { $0 > 45 && $0 < 160 })
        let ht = values("tug_time", healthy), it = values("tug_time") { $0.labels["impaired"] == .category("yes") }
        #expect(mean(ht) > 7 && mean(ht) < 11)
        #expect(mean(it) > 12)
        let hf = values("fsst_time", healthy), sf = values("fsst_time", dx("stroke"))
        #expect(mean(hf) < 10 && mean(sf) > 12)
        // Cadence of Parkinson's gait stays high for its speed (short steps).
        let pdCad = values("cadence", dx("parkinsons")), pdSpeed = values("walking_speed", dx("parkinsons"))
        #expect(mean(pdCad) / mean(pdSpeed) > mean(hc) / mean(hs) * 1.15)
    }

    /// Peak-to-peak range of a channel over a trial.
    func range(_ t: Trial, _ name: String) -> Double {
        let c = t.column(t.channelIndex(name)!).map(Double.init)
        return c.max()! - c.min()!
    }

    @Test func diagnosesLeaveTheirKinematicSignatures() {
        let walking = d.trials.filter { $0.labels["activity"] == .category("walking") }
        func side(_ t: Trial) -> (affected: String, other: String) {
            Cohort.profiles[t.participantID]!.affectedSide == .right ? ("r", "l") : ("l", "r")
        }
        // Stroke: the paretic knee flexes less in swing than the other knee.
        let stroke = walking.filter { $0.labels["diagnosis"] == .category("stroke") }
        #expect(mean(stroke.map { range($0, "knee_angle_\(side($0).affected)") }) < 0.8 * mean(stroke.map { range($0, "knee_angle_\(side($0).other)") }))
        // Transfemoral prosthesis: a stiff prosthetic knee (less excursion) than the sound knee.
        let tf = walking.filter { $0.labels["amputation_level"] == .category("transfemoral") }
        #expect(mean(tf.map { range($0, "knee_angle_\(side($0).affected)") }) < mean(tf.map { range($0, "knee_angle_\(side($0).other)") }))
        // Parkinson's: reduced arm swing and a flexed trunk compared with unimpaired walkers without devices.
        let pd = walking.filter { $0.labels["diagnosis"] == .category("parkinsons") && $0.labels["assistive_device"] == .category("none") }
        let hw = walking.filter { $0.labels["impaired"] == .category("no") && $0.labels["assistive_device"] == .category("none") }
        #expect(mean(pd.map { range($0, "arm_flex_r") + range($0, "arm_flex_l") }) < 0.7 * mean(hw.map { range($0, "arm_flex_r") + range($0, "arm_flex_l") }))
        func meanChannel(_ t: Trial, _ n: String) -> Double { mean(t.column(t.channelIndex(n)!).map(Double.init)) }
        #expect(mean(pd.map { meanChannel($0, "lumbar_extension") }) < mean(hw.map { meanChannel($0, "lumbar_extension") }) - 5)
        // Walkers: both shoulders flexed forward holding the frame.
        let walker = walking.filter { $0.labels["assistive_device"] == .category("walker") }
        #expect(mean(walker.map { meanChannel($0, "arm_flex_r") }) > mean(hw.map { meanChannel($0, "arm_flex_r") }) + 15)
    }

    @Test func labelsAreMeasuredFromTheMovement() {
        // Walking speed equals the pelvis displacement over time recomputed from the stored trial.
        for t in d.trials.filter({ $0.labels["activity"] == .category("walking") }).prefix(20) {
            let v = GaitMeasures.walkingSpeed(tx: t.column(0).map(Double.init), tz: t.column(2).map(Double.init), frameRate: t.frameRate)
            #expect(abs(v - t.labels["walking_speed"]!.number!) < 0.01)
        }
        // The TUG time lies inside the trial and covers most of it.
        for t in d.trials.filter({ $0.labels["activity"] == .category("tug") }).prefix(20) {
            let tug = t.labels["tug_time"]!.number!
            #expect(tug < t.duration && tug > 0.6 * t.duration)
        }
    }

    @Test func cohortRoundTripsThroughHDF5() throws {
        let small = try CohortSimulator.generate(CohortConfiguration(participants: 4, seed: 1))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-\(UUID().uuidString).h5")
        try small.save(to: url)
        let r = try MotionDataset.load(from: url)
        #expect(r.trials.map(\.labels) == small.trials.map(\.labels))
        #expect(r.attributes["simulated"]?.hasPrefix("yes") == true)
    }
}
