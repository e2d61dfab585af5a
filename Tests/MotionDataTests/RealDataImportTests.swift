import BiomechCore
import Foundation
import Testing
@testable import MotionData

/// Each importer on the real files of ../shared/data.
@Suite struct RealDataImportTests {
    @Test func uiPRMDHas2000RepetitionsOf10Subjects() throws {
        guard let d = try Shared.uiPRMD else { return }
        #expect(d.trials.count == 2000)
        #expect(d.participantIDs == (1...10).map { String(format: "s%02d", $0) })
        let ex = Dictionary(grouping: d.trials) { $0.labels["exercise"]!.category! }
        #expect(Set(ex.keys) == Set(UIPRMDImporter.exercises))
        #expect(ex.values.allSatisfy { $0.count == 200 })
        let corr = Dictionary(grouping: d.trials) { $0.labels["correctness"]!.category! }
        #expect(corr["correct"]?.count == 1000 && corr["incorrect"]?.count == 1000)
        let t = try #require(d.trials.first { $0.id == "m01_s01_e01_correct" })
        #expect(t.channels.count == 66 && t.frameRate == 30 && t.frameCount > 10)
        #expect(t.labels["repetition"] == .number(1))
    }

    @Test func fgdiHas104SessionsOf82Participants() throws {
        guard let d = try Shared.fgdi else { return }
        #expect(d.trials.count == 208)  // one per session and side
        #expect(Set(d.trials.map { String($0.id.dropLast($0.id.hasSuffix("_left") ? 5 : 6)) }).count == 104)
        #expect(d.participantIDs.count == 82)
        let groups = Dictionary(grouping: d.trials) { $0.labels["group"]!.category! }.mapValues { Set($0.map(\.participantID)).count }
        #expect(groups == ["parkinsons": 22, "amputee": 18, "healthy": 42])
        func trial(_ id: String) throws -> Trial { try #require(d.trials.first { $0.id == id }) }
        let on = try trial("SUB01_on_left"), off = try trial("SUB01_off_left")
        #expect(on.participantID == "SUB01" && off.participantID == "SUB01")
        #expect(on.labels["medication"] == .category("on") && off.labels["medication"] == .category("off"))
        #expect(on.labels["updrs3"] == .number(38) && off.labels["updrs3"] == .number(27))  // ON/OFF matched
        #expect(on.labels["minibestest"] == .number(26) && off.labels["minibestest"] == .number(21))
        #expect(on.labels["hoehn_yahr"] == .number(3))
        #expect(on.labels["freezer"] == .category("freezer"))
        #expect(try trial("SUB02_on_right").labels["freezer"] == .category("non_freezer"))
        let tf = try trial("TF02_right")
        #expect(tf.labels["k_level"] == .category("k2"))
        #expect(tf.labels["handrail"] == .category("yes"))
        #expect(tf.labels["etiology"] == .category("infection"))
        #expect(tf.labels["prosthetic_knee"] == .category("c_leg_obk"))
        #expect(tf.labels["side"] == .category("right"))
        #expect(tf.labels["limb"] == .category("prosthetic"))
        #expect(try trial("TF01_left").labels["handrail"] == .category("no"))
        let h = try trial("WBDS01_left")
        #expect(h.labels["group"] == .category("healthy") && h.labels["medication"] == nil)
        #expect(h.frameCount == 101 && h.channels.count == 9)
        // Knee flexion follows OpenSim's sign: negative, peaking near -60° in swing.
        let knee = h.column(h.channelIndex("knee_angle_l")!)
        #expect(knee.min()! < -45 && knee.max()! < 15)
    }

    @Test func openSimFiles() throws {
        guard let d = try Shared.opensim else { return }
        #expect(d.trials.count == 8)
        let walk = try #require(d.trials.first { $0.id == "subject01_walk1_ik" })
        #expect(abs(walk.frameRate - 60) < 0.01)
        #expect(walk.frameCount == 211)
        #expect(walk.channels.first { $0.name == "pelvis_tx" }?.unit == .meters)
        #expect(walk.channels.first { $0.name == "knee_angle_r" }?.unit == .degrees)
        #expect(walk.participantID == "subject01")
        let run = try #require(d.trials.first { $0.id == "subject02_running_ik" })
        #expect(run.channelIndex("arm_flex_r") != nil)
        #expect(Set(d.participantIDs).isSuperset(of: ["subject01", "subject02", "normal"]))
    }

    @Test func locoMuJoCoArchives() throws {
        guard let d = try Shared.locomujoco else { return }
        #expect(d.trials.count == 2)
        let w = try #require(d.trials.first { $0.id.contains("constspeed") })
        #expect(w.frameCount == 500)
        #expect(w.frameRate == 500)  // estimated from q and dq
        #expect(w.channelIndex("hip_flexion_r") != nil && w.channelIndex("q_hip_flexion_r") == nil)
        let hip = w.column(w.channelIndex("hip_flexion_r")!)
        #expect(hip.max()! - hip.min()! > 20 && hip.max()! < 60)  // degrees, not radians
        #expect(w.channels.first { $0.name == "pelvis_tx" }?.unit == .meters)
    }

    @Test func importedSetsSurviveHDF5AndInspection() throws {
        guard let d = try Shared.fgdi else { return }
        let url = temporaryDirectory().appendingPathComponent("fgdi.h5")
        try d.save(to: url)
        let r = try MotionDataset.load(from: url)
        #expect(r.trials.count == d.trials.count)
        #expect(r.trials[5].labels == d.trials[5].labels)
        let s = DatasetSummary(r)
        #expect(s.participants == 82)
        let group = try #require(s.labels.first { $0.name == "group" })
        #expect(group.categories?["parkinsons"] == 88)
        #expect(s.text.contains("updrs3"))
    }
}
