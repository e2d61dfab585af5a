import BiomechCore
import BiomechModelRepresentation
import CohortSimulator
import Foundation
import JointAnglesRepresentation
import MotionData
import Testing

enum Fixtures {
    static let cohort: MotionDataset = try! CohortSimulator.generate(CohortConfiguration(participants: 12, seed: 7))
    static func dataPath(_ sub: String) -> URL? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let url = root.deletingLastPathComponent().appendingPathComponent("shared/data").appendingPathComponent(sub)
        guard FileManager.default.fileExists(atPath: url.path) else { print("skipping: \(url.path) is absent"); return nil }
        return url
    }
}

@Suite struct BiomechModelTests {
    @Test func paperPreprocessing() throws {
        let rep = BiomechModelFeatures()
        #expect(rep.channelNames.count == 38)  // 41 minus the pelvis position
        let m = try rep.preprocess(Fixtures.cohort.trials[0])
        for n in BiomechModelPose.wristChannels + BiomechModelPose.mtpChannels {
            let k = m.channelNames.firstIndex(of: n)!
            #expect(!m.observed[k])
            #expect((0..<m.frameCount).allSatisfy { m[$0, k] == 0 })
        }
        let w = m.channelNames.firstIndex(of: "pelvis_qw")!
        for f in 0..<m.frameCount {
            let n = (0..<4).map { Double(m[f, w + $0]) }.map { $0 * $0 }.reduce(0, +)
            #expect(abs(n - 1) < 1e-4)
        }
        let keep = BiomechModelFeatures(options: { var o = BiomechModelFeatures.Options(); o.dropPelvisTranslation = false; o.zeroWrists = false; o.zeroMTP = false; return o }())
        #expect(keep.channelNames == BiomechModelPose.channelNames)
        let full = try keep.preprocess(Fixtures.cohort.trials[0])
        #expect(full.observed.allSatisfy { $0 })
        #expect(full[0, 0] == 0 && full[0, 2] == 0)  // horizontal position relative to the first frame
    }

    @Test func eulerQuaternionRoundTrip() {
        var rng = SeededRandom(seed: 3)
        for _ in 0..<200 {
            let tilt = rng.nextDouble() * 120 - 60, list = rng.nextDouble() * 120 - 60, rot = rng.nextDouble() * 340 - 170
            let q = BiomechModelMapping.quaternion(tilt: tilt, list: list, rotation: rot)
            #expect(abs(q.0 * q.0 + q.1 * q.1 + q.2 * q.2 + q.3 * q.3 - 1) < 1e-12)
            let e = BiomechModelMapping.euler(w: q.0, x: q.1, y: q.2, z: q.3)
            #expect(abs(e.tilt - tilt) < 1e-6 && abs(e.list - list) < 1e-6 && abs(e.rotation - rot) < 1e-6)
        }
        let q = BiomechModelMapping.quaternion(tilt: 0, list: 0, rotation: 90)
        #expect(abs(q.0 - 0.5.squareRoot()) < 1e-12 && abs(q.2 - 0.5.squareRoot()) < 1e-12)
    }

    @Test func normalisationIsFittedOnTrainingOnlyAndInverts() throws {
        let d = Fixtures.cohort
        let split = try ParticipantSplit.make(d, train: 0.75, validation: 0, seed: 1)
        let parts = try split.partition(d.trials)
        let a = BiomechModelFeatures(), b = BiomechModelFeatures()
        #expect(throws: InputError.self) { try a.features(of: d.trials[0]) }
        try a.fit(training: parts[.train]!)
        try b.fit(training: parts[.train]!)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rep-\(UUID().uuidString)")
        try a.save(to: dir)
        // Training features are centred; the state does not depend on test trials.
        let train = try parts[.train]!.map { try a.features(of: $0) }
        let k = a.channelNames.firstIndex(of: "knee_angle_r")!
        let all = train.flatMap { m in (0..<m.frameCount).map { Double(m[$0, k]) } }
        #expect(abs(all.reduce(0, +) / Double(all.count)) < 1e-3)
        let test = parts[.test]![0]
        let f = try a.features(of: test)
        let finite = f.values.allSatisfy { $0.isFinite }; #expect(finite)
        let back = try a.angles(from: f)
        let pre = try a.preprocess(test)
        for i in 0..<pre.values.count where pre.observed[i % pre.channelCount] {
            #expect(abs(back.values[i] - pre.values[i]) < 2e-3)
        }
        let c = BiomechModelFeatures()
        try c.load(from: dir)
        #expect(try c.features(of: test) == f)
        let other = try BiomechModelFeatures.make(PluginParameters(["zero_wrists": "false"]))
        #expect(throws: InputError.self) { try other.load(from: dir) }
        #expect(try b.features(of: test) == f)
    }

    @Test func zeroVarianceChannelGivesNoNaN() throws {
        var t = Fixtures.cohort.trials[0]
        let k = t.channelIndex("hip_rotation_r")!
        for f in 0..<t.frameCount { t.values[f * t.channels.count + k] = 7 }
        let rep = BiomechModelFeatures()
        try rep.fit(training: [t])
        let m = try rep.features(of: t)
        let finite = m.values.allSatisfy { $0.isFinite }; #expect(finite)
        let back = try rep.angles(from: m)
        let o = rep.channelNames.firstIndex(of: "hip_rotation_r")!
        #expect(abs(back[3, o] - 7) < 1e-4)
    }

    @Test func resamplingUnwrappingAndKneeConvention() throws {
        // 100 Hz, pelvis heading crossing ±180°, knee flexion positive (Rajagopal / OpenCap).
        let n = 101
        var v: [Float] = []
        for f in 0..<n {
            let rot = 170 + Double(f) * 0.2
            v += [Float(rot > 180 ? rot - 360 : rot), Float(40 + 20 * sin(Double(f) / 10)), 10]
        }
        let t = try Trial(id: "r", participantID: "p", frameRate: 100,
                          channels: [Channel("pelvis_rotation", unit: .degrees), Channel("knee_angle_r", unit: .degrees), Channel("hip_flexion_r", unit: .degrees)],
                          values: v)
        let rep = BiomechModelFeatures()
        let m = try rep.preprocess(t)
        #expect(m.frameCount == 31 && m.frameRate == 30)
        let k = m.channelNames.firstIndex(of: "knee_angle_r")!
        #expect((0..<m.frameCount).allSatisfy { m[$0, k] < 0 })  // flexion made negative
        // The quaternion turns smoothly through the wrap (no sign flip between frames).
        let w = m.channelNames.firstIndex(of: "pelvis_qw")!
        for f in 1..<m.frameCount {
            let dot = (0..<4).map { Double(m[f, w + $0] * m[f - 1, w + $0]) }.reduce(0, +)
            #expect(dot > 0.99)
        }
        #expect(m.observed[m.channelNames.firstIndex(of: "arm_flex_r")!] == false)
        let none = try Trial(id: "x", participantID: "p", frameRate: 30, channels: [Channel("foo", unit: .degrees)], values: [1, 2, 3, 4, 5])
        let e = #expect(throws: InputError.self) { try rep.preprocess(none) }
        #expect(e?.field == "x")
        var unwrapped = [170.0, 179, -179, -170, 175]
        SignalOps.unwrapDegrees(&unwrapped)
        #expect(unwrapped == [170, 179, 181, 190, 175])
    }

    @Test func mapsRealOpenSimAndLocoMuJoCo() throws {
        let rep = BiomechModelFeatures()
        if let os = Fixtures.dataPath("opensim") {
            let d = try Importers.importFiles(format: .opensim, inputs: [os])
            let walk = d.trials.first { $0.id == "subject01_walk1_ik" }!
            let m = try rep.preprocess(walk)
            func obs(_ n: String) -> Bool { m.observed[m.channelNames.firstIndex(of: n)!] }
            #expect(obs("pelvis_qw") && obs("hip_flexion_r") && obs("lumbar_extension") && !obs("arm_flex_r"))
            let run = try rep.preprocess(d.trials.first { $0.id == "subject02_running_ik" }!)
            #expect(run.observed[run.channelNames.firstIndex(of: "elbow_flex_r")!])
            for t in d.trials { let ok = try rep.preprocess(t).values.allSatisfy { $0.isFinite }; #expect(ok) }
        }
        if let lm = Fixtures.dataPath("locomujoco") {
            let d = try Importers.importFiles(format: .npz, inputs: [lm])
            let m = try rep.preprocess(d.trials[0])
            let observed = zip(m.channelNames, m.observed).filter(\.1).map(\.0)
            #expect(observed.count == 38 - 6 - 3 - 2)  // no neck; wrists and mtp zeroed
            #expect(m.frameRate == 30 && m.frameCount == 30)  // 500 frames at 500 Hz = 1 s
        }
    }
}

@Suite struct JointAnglesTests {
    @Test func anyChannelsAsTheyAre() throws {
        let a = try Trial(id: "a", participantID: "p1", frameRate: 30, channels: [Channel("waist_x", unit: .degrees), Channel("spine_y", unit: .degrees)],
                          values: [1, 10, 2, 20, 3, 30, 4, 40])
        let b = try Trial(id: "b", participantID: "p2", frameRate: 30, channels: [Channel("waist_x", unit: .degrees)], values: [5, 6, 7, 8])
        let rep = try JointAngleFeatures.make(.empty)
        try rep.fit(training: [a])
        #expect(rep.channelNames == ["waist_x", "spine_y"])
        let fb = try rep.features(of: b)
        #expect(fb.observed == [true, false])
        #expect(fb.values.enumerated().filter { $0.offset % 2 == 1 }.allSatisfy { $0.element == 0 })
        let back = try rep.angles(from: try rep.features(of: a))
        for (x, y) in zip(back.values, a.values) { #expect(abs(x - y) < 1e-4) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ja-\(UUID().uuidString)")
        try rep.save(to: dir)
        let r2 = JointAngleFeatures()
        try r2.load(from: dir)
        #expect(r2.channelNames == rep.channelNames)
        let fixed = try JointAngleFeatures.make(PluginParameters(["channels": "spine_y", "target_frame_rate": "15", "min_frames": "1"]))
        try fixed.fit(training: [a])
        #expect(try fixed.features(of: a).frameCount == 2)
        #expect(throws: InputError.self) { try fixed.features(of: b) }  // b has none of the channels
    }

    @Test func registryRejectsUndeclaredParameters() throws {
        var registry = PluginRegistry()
        registry.register(BiomechModelFeatures.descriptor) { try BiomechModelFeatures.make($0) }
        registry.register(JointAngleFeatures.descriptor) { try JointAngleFeatures.make($0) }
        let ok: any MotionRepresentation = try registry.make(.representation, id: "biomech-model",
                                                             parameters: PluginParameters(["target_frame_rate": "60"]), as: (any MotionRepresentation).self)
        #expect(ok.channelNames.count == 38)
        #expect(throws: InputError.self) {
            let _: any MotionRepresentation = try registry.make(.representation, id: "biomech-model", parameters: PluginParameters(["bogus": "1"]), as: (any MotionRepresentation).self)
        }
        #expect(throws: InputError.self) { try BiomechModelFeatures.make(PluginParameters(["knee_convention": "sideways"])) }
        #expect(throws: InputError.self) { try BiomechModelFeatures.make(PluginParameters(["target_frame_rate": "-3"])) }
    }
}
