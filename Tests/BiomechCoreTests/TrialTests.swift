import Testing
@testable import BiomechCore

@Suite struct TrialTests {
    @Test func rejectsNaNNamingChannelAndFrame() {
        let error = #expect(throws: InputError.self) {
            try Trial(id: "t1", participantID: "p1", frameRate: 30,
                      channels: [Channel("knee_angle_r", unit: .degrees), Channel("hip_flexion_r", unit: .degrees)],
                      values: [1, 2, 3, .nan], sourceFile: "walk.mot")
        }
        #expect(error?.file == "walk.mot")
        #expect(error?.field == "t1.hip_flexion_r")
        #expect(error?.message.contains("frame 1") == true)
    }

    @Test func rejectsRaggedValues() {
        #expect(throws: InputError.self) {
            try Trial(id: "t", participantID: "p", frameRate: 30, channels: [Channel("a", unit: .degrees), Channel("b", unit: .degrees)], values: [1, 2, 3])
        }
    }

    @Test func rejectsATrialWithoutFrames() {
        let error = #expect(throws: InputError.self) {
            try Trial(id: "t", participantID: "p", frameRate: 30, channels: [Channel("a", unit: .degrees)], values: [],
                      sourceFile: "empty.csv")
        }
        #expect(error?.file == "empty.csv" && error?.field == "t")
        #expect(error?.message.contains("no frames") == true)
    }

    @Test func shape() throws {
        let t = try Trial(id: "t", participantID: "p", frameRate: 50, channels: [Channel("a", unit: .degrees), Channel("b", unit: .radians)],
                          values: [1, 2, 3, 4, 5, 6])
        #expect(t.frameCount == 3)
        #expect(t.column(1) == [2, 4, 6])
        #expect(abs(t.duration - 0.06) < 1e-12)
    }
}
