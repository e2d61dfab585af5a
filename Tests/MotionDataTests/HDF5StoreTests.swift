import BiomechCore
import Foundation
import Testing
@testable import MotionData

@Suite struct HDF5StoreTests {
    func sample() throws -> MotionDataset {
        let a = try Trial(id: "t1", participantID: "p1", frameRate: 30,
                          channels: [Channel("hip_flexion_r", unit: .degrees), Channel("pelvis_tx", unit: .meters)],
                          values: [1, 0.1, 2, 0.2, 3, 0.3],
                          labels: ["activity": .category("walking"), "walking_speed": .number(1.25)], sourceFile: "/data/a.mot")
        let b = try Trial(id: "t0-second", participantID: "p2", frameRate: 100.5,
                          channels: [Channel("x", unit: .radians)], values: [0.5, -0.5], labels: [:], sourceFile: nil)
        return MotionDataset(name: "demo", trials: [a, b], attributes: ["seed": "7", "generator": "test"])
    }

    @Test func roundTripKeepsEverything() throws {
        let dir = temporaryDirectory()
        let url = dir.appendingPathComponent("d.h5")
        let d = try sample()
        try d.save(to: url)
        let r = try MotionDataset.load(from: url)
        #expect(r.name == "demo")
        #expect(r.attributes == d.attributes)
        #expect(r.trials.map(\.id) == ["t1", "t0-second"])  // insertion order kept
        for (x, y) in zip(d.trials, r.trials) {
            #expect(x.participantID == y.participantID)
            #expect(x.frameRate == y.frameRate)
            #expect(x.channels == y.channels)
            #expect(x.values == y.values)
            #expect(x.labels == y.labels)
            #expect(x.sourceFile == y.sourceFile)
        }
        // Only the finished file is left: no temporaries.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left == ["d.h5"])
    }

    @Test func failedWriteLeavesTheOldFile() throws {
        let dir = temporaryDirectory()
        let url = dir.appendingPathComponent("d.h5")
        try sample().save(to: url)
        var bad = try sample()
        bad.trials.append(bad.trials[0])  // duplicate id
        #expect(throws: InputError.self) { try bad.save(to: url) }
        bad = try sample()
        bad.trials[0].id = "a/b"
        let e = #expect(throws: InputError.self) { try bad.save(to: url) }
        #expect(e?.field == "a/b")
        #expect(try MotionDataset.load(from: url).trials.count == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["d.h5"])
    }

    @Test func truncatedOrForeignFilesNameTheFile() throws {
        let dir = temporaryDirectory()
        let url = dir.appendingPathComponent("d.h5")
        try sample().save(to: url)
        let data = try Data(contentsOf: url)
        let cut = dir.appendingPathComponent("cut.h5")
        try data.prefix(data.count / 2).write(to: cut)
        let e1 = #expect(throws: InputError.self) { try MotionDataset.load(from: cut) }
        #expect(e1?.file == cut.path)
        let text = write("not hdf5 at all", "x.h5", in: dir)
        let e2 = #expect(throws: InputError.self) { try MotionDataset.load(from: text) }
        #expect(e2?.file == text.path)
        let missing = dir.appendingPathComponent("missing.h5")
        let e3 = #expect(throws: InputError.self) { try MotionDataset.load(from: missing) }
        #expect(e3?.message.contains("no such file") == true)
    }
}
