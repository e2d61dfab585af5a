import Foundation
import Testing
@testable import BiomechCore

@Suite struct ProgressLogTests {
    /// A resumed job counts only the steps it ran, and a log reused for a second job
    /// measures that job's steps from where the first one ended.
    @Test func rateCountsThisJobsStepsOnly() {
        let log = ProgressLog.silent()
        let t0 = Date()
        log.step(101, of: 200, at: t0.addingTimeInterval(1))       // resumed at step 100
        log.step(110, of: 200, at: t0.addingTimeInterval(10))
        #expect(abs(log.currentRate(110, at: t0.addingTimeInterval(10)) - 1.0) < 1e-3)   // 10 steps in 10 s (the job began when the log was made, ≈ t0)
        log.step(200, of: 200, at: t0.addingTimeInterval(100))
        // A second job on the same log, starting when the first one's last step was reported.
        log.step(1, of: 8, at: t0.addingTimeInterval(102))
        log.step(4, of: 8, at: t0.addingTimeInterval(108))
        #expect(abs(log.currentRate(4, at: t0.addingTimeInterval(108)) - 0.5) < 1e-9)    // 4 steps in 8 s
    }
}
