import BiomechCore
import Testing

@Suite("Duration in seconds")
struct DurationSecondsTests {
    @Test func knownValues() {
        #expect(Duration.milliseconds(1500).inSeconds == 1.5)
        #expect(Duration.seconds(-2).inSeconds == -2)
        #expect(abs(Duration.nanoseconds(3).inSeconds - 3e-9) < 1e-20)
        #expect(abs((Duration.seconds(7) + .microseconds(250)).inSeconds - 7.00025) < 1e-12)
    }
}
