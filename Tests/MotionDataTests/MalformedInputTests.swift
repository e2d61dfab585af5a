import BiomechCore
import Foundation
import Testing
@testable import MotionData

/// Bad input gives an InputError naming the file and the line or field.
@Suite struct MalformedInputTests {
    let dir = temporaryDirectory()

    let motHeader = "test\nversion=1\nnRows=3\nnColumns=3\ninDegrees=yes\nendheader\ntime\tknee_angle_r\tpelvis_tx\n"

    @Test func openSimTruncated() throws {
        // Cut in the middle of the last row.
        let url = write(motHeader + "0\t1\t0.1\n0.01\t2\t0.2\n0.02\t3", "trunc.mot", in: dir)
        let e = #expect(throws: InputError.self) { try OpenSimImporter.read(url) }
        #expect(e?.file == url.path && e?.line == 10)
        // Cut inside the header.
        let head = write("test\nversion=1\nnRows=3\n", "head.mot", in: dir)
        let e2 = #expect(throws: InputError.self) { try OpenSimImporter.read(head) }
        #expect(e2?.file == head.path && e2?.message.contains("endheader") == true)
    }

    @Test func openSimWrongColumnCountNaNAndHeader() throws {
        let cols = write(motHeader + "0\t1\t0.1\n0.01\t2\n0.02\t3\t0.3\n", "cols.mot", in: dir)
        let e1 = #expect(throws: InputError.self) { try OpenSimImporter.read(cols) }
        #expect(e1?.line == 9 && e1?.file == cols.path)
        let nan = write(motHeader + "0\t1\t0.1\n0.01\tNaN\t0.2\n0.02\t3\t0.3\n", "nan.mot", in: dir)
        let e2 = #expect(throws: InputError.self) { try OpenSimImporter.read(nan) }
        #expect(e2?.line == 9 && e2?.field == "knee_angle_r")
        let noEnd = write("test\ninDegrees=yes\ntime\tx\n0\t1\n", "noend.mot", in: dir)
        #expect(throws: InputError.self) { try OpenSimImporter.read(noEnd) }
        let badDeg = write(motHeader.replacingOccurrences(of: "inDegrees=yes", with: "inDegrees=maybe") + "0\t1\t0.1\n0.01\t2\t0.2\n0.02\t3\t0.3\n", "deg.mot", in: dir)
        let e3 = #expect(throws: InputError.self) { try OpenSimImporter.read(badDeg) }
        #expect(e3?.field == "inDegrees" && e3?.line == 5)
    }

    @Test func openSimUnevenTimeAndRadians() throws {
        let text = "t\nnRows=4\nnColumns=2\ninDegrees=no\nendheader\ntime\thip_flexion_r\n0\t0\n0.01\t0.01\n0.03\t0.03\n0.04\t0.04\n"
        let t = try OpenSimImporter.read(write(text, "uneven.sto", in: dir))
        #expect(abs(t.frameRate - 100) < 1e-6)
        #expect(t.frameCount == 5)
        #expect(abs(Double(t.values[2]) - 0.02 * 180 / .pi) < 1e-4)  // interpolated, in degrees
    }

    @Test func bvhUnknownChannelOrderAndTruncation() throws {
        let good = """
        HIERARCHY
        ROOT Hips
        {
          OFFSET 0 0 0
          CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
          JOINT Knee
          {
            OFFSET 0 -40 0
            CHANNELS 3 Zrotation Xrotation Yrotation
            End Site
            {
              OFFSET 0 -40 0
            }
          }
        }
        MOTION
        Frames: 2
        Frame Time: 0.0333333
        0 90 0 1 2 3 10 0 0
        0 90 1 1 2 3 20 0 0
        """
        let t = try BVHImporter.read(write(good, "walk.bvh", in: dir))
        #expect(t.channels.map(\.name).prefix(4) == ["Hips_Xposition", "Hips_Yposition", "Hips_Zposition", "Hips_Zrotation"])
        #expect(abs(t.frameRate - 30) < 0.01 && t.frameCount == 2)
        let unknown = good.replacingOccurrences(of: "CHANNELS 3 Zrotation Xrotation Yrotation", with: "CHANNELS 3 Zrotation Wrotation Yrotation")
        let e1 = #expect(throws: InputError.self) { try BVHImporter.read(write(unknown, "u.bvh", in: dir)) }
        #expect(e1?.line == 9 && e1?.field == "Knee.CHANNELS" && e1?.allowed.contains("Xrotation") == true)
        let truncated = String(good.dropLast(18))
        let e2 = #expect(throws: InputError.self) { try BVHImporter.read(write(truncated, "t.bvh", in: dir)) }
        #expect(e2?.file?.hasSuffix("t.bvh") == true)
        for frames in ["1e19", "-1", "2.5"] {
            let bad = good.replacingOccurrences(of: "Frames: 2", with: "Frames: \(frames)")
            let e = #expect(throws: InputError.self) { try BVHImporter.read(write(bad, "f.bvh", in: dir)) }
            #expect(e?.field == "Frames", "\(frames)")
        }
        let short = good.replacingOccurrences(of: "0 90 1 1 2 3 20 0 0", with: "0 90 1 1 2 3 20 0")
        let e3 = #expect(throws: InputError.self) { try BVHImporter.read(write(short, "s.bvh", in: dir)) }
        #expect(e3?.line == 20)
    }

    @Test func uiPRMDBadRows() throws {
        let row = Array(repeating: "1.0", count: 66).joined(separator: ",")
        let ok = write(row + "\n" + row + "\n", "correct/m01_s02_e03_angles.txt", in: dir)
        let t = try UIPRMDImporter.readFile(ok)
        #expect(t.participantID == "s02" && t.labels["exercise"] == .category("deep_squat"))
        let short = write(row + "\n" + row.dropLast(4) + "\n", "correct/m01_s02_e04_angles.txt", in: dir)
        let e1 = #expect(throws: InputError.self) { try UIPRMDImporter.readFile(short) }
        #expect(e1?.line == 2 && e1?.message.contains("65 columns") == true)
        let nan = write(row + "\n" + row.replacingOccurrences(of: "1.0,1.0,1.0,1.0", with: "1.0,nan,1.0,1.0") + "\n", "incorrect/m02_s01_e01_angles_inc.txt", in: dir)
        let e2 = #expect(throws: InputError.self) { try UIPRMDImporter.readFile(nan) }
        #expect(e2?.line == 2 && e2?.field == "waist_y")
        let badName = write(row + "\n", "correct/m11_s01_e01_angles.txt", in: dir)
        #expect(throws: InputError.self) { try UIPRMDImporter.readFile(badName) }
        let wrongFolder = write(row + "\n" + row + "\n", "incorrect/m01_s01_e01_angles.txt", in: dir)
        #expect(throws: InputError.self) { try UIPRMDImporter.readFile(wrongFolder) }
        // A corrupt gzip file names the file.
        var gz = Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]); gz.append(contentsOf: [1, 2, 3])
        let gzURL = dir.appendingPathComponent("correct/m01_s01_e09_angles.txt.gz")
        try gz.write(to: gzURL)
        let e3 = #expect(throws: InputError.self) { try UIPRMDImporter.readFile(gzURL) }
        #expect(e3?.file == gzURL.path)
    }

    @Test func npzMalformed() throws {
        let good = makeNPZ([("q_hip_flexion_r", [0, 0.1, 0.2]), ("q_pelvis_tx", [0, 0.01, 0.02])])
        let url = dir.appendingPathComponent("ok.npz")
        try Data(good).write(to: url)
        let t = try NPZImporter.read(url, frameRate: 100)
        #expect(t.frameCount == 3 && abs(Double(t.values[2]) - 0.1 * 180 / .pi) < 1e-3)
        let noRate = #expect(throws: InputError.self) { try NPZImporter.read(url, frameRate: nil) }
        #expect(noRate?.field == "--frame-rate")
        let cut = dir.appendingPathComponent("cut.npz")
        try Data(good.prefix(good.count - 30)).write(to: cut)
        let e1 = #expect(throws: InputError.self) { try NPZImporter.read(cut, frameRate: 100) }
        #expect(e1?.file == cut.path)
        let mismatch = dir.appendingPathComponent("mismatch.npz")
        try Data(makeNPZ([("q_a", [0, 1, 2]), ("q_b", [0, 1])])).write(to: mismatch)
        let e2 = #expect(throws: InputError.self) { try NPZImporter.read(mismatch, frameRate: 100) }
        #expect(e2?.field == "q_b")
        let nan = dir.appendingPathComponent("nan.npz")
        try Data(makeNPZ([("q_a", [0, .nan, 2])])).write(to: nan)
        let e3 = #expect(throws: InputError.self) { try NPZImporter.read(nan, frameRate: 100) }
        #expect(e3?.field == "q_a" && e3?.message.contains("frame 1") == true)
        let none = dir.appendingPathComponent("none.npz")
        try Data(makeNPZ([("x", [0, 1])])).write(to: none)
        #expect(throws: InputError.self) { try NPZImporter.read(none, frameRate: 100) }
    }

    @Test func csvAndLabels() throws {
        let ok = write("time,hip_flexion_r,knee_angle_r\n0,1,2\n0.1,2,3\n0.2,3,4\n", "p7_walk.csv", in: dir)
        let t = try CSVImporter.read(ok, frameRate: nil)
        #expect(abs(t.frameRate - 10) < 1e-9 && t.participantID == "p7")
        let crlf = try CSVImporter.read(write("time,a\r\n0,1\r\n0.5,2\r\n", "crlf.csv", in: dir), frameRate: nil)
        #expect(crlf.frameCount == 2 && crlf.frameRate == 2)
        let cols = write("time,a,b\n0,1,2\n0.1,2\n", "c.csv", in: dir)
        let e1 = #expect(throws: InputError.self) { try CSVImporter.read(cols, frameRate: nil) }
        #expect(e1?.line == 3)
        let nan = write("a,b\n1,2\n2,NaN\n", "n.csv", in: dir)
        let e2 = #expect(throws: InputError.self) { try CSVImporter.read(nan, frameRate: 30) }
        #expect(e2?.line == 3 && e2?.field == "b")
        let noRate = write("a,b\n1,2\n2,3\n", "r.csv", in: dir)
        #expect(throws: InputError.self) { try CSVImporter.read(noRate, frameRate: nil) }

        var d = MotionDataset(name: "x", trials: [t])
        let labels = write("trial_id,participant_id,diagnosis,walking_speed\np7_walk,P07,stroke,0.62\n", "labels.csv", in: dir)
        try LabelTable.read(labels).apply(to: &d)
        #expect(d.trials[0].participantID == "P07")
        #expect(d.trials[0].labels == ["diagnosis": .category("stroke"), "walking_speed": .number(0.62)])
        let unknown = write("trial_id,diagnosis\nnope,stroke\n", "bad.csv", in: dir)
        let e3 = #expect(throws: InputError.self) { try LabelTable.read(unknown).apply(to: &d) }
        #expect(e3?.line == 2 && e3?.field == "trial_id")
        let noKey = write("name,diagnosis\nx,stroke\n", "nokey.csv", in: dir)
        #expect(throws: InputError.self) { try LabelTable.read(noKey) }
    }

    @Test func fgdiMalformedRow() throws {
        var header = "SubjectStudyID,GLID,SessionID,SessionName,TrialName,Side,VariableName,Dim,StrideID"
        for i in 0...100 { header += ",GCpc_\(i)" }
        let values = Array(repeating: "1.5", count: 101).joined(separator: ",")
        let good = "1,1,WBDS01,First,t,L,HipAngles,2,1," + values
        let bad = "1,1,WBDS01,First,t,X,KneeAngles,2,1," + values
        let sub = dir.appendingPathComponent("fgdi")
        _ = write(header + "\n" + good + "\n" + bad + "\n", "fgdi/Amputee_Data.csv", in: dir)
        let e = #expect(throws: InputError.self) { try FGDIImporter.read([sub]) }
        #expect(e?.line == 3 && e?.field == "Side")
    }

    @Test func formatErrors() throws {
        let e = #expect(throws: InputError.self) { try Importers.importFiles(format: .opensim, inputs: [dir.appendingPathComponent("absent")]) }
        #expect(e?.message.contains("no such file") == true)
        let empty = temporaryDirectory()
        #expect(throws: InputError.self) { try Importers.importFiles(format: .bvh, inputs: [empty]) }
    }
}
