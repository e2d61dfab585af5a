import Foundation
import Testing
@testable import BiomechCore

@Suite("Process memory from /proc/self/status")
struct ProcessMemoryTests {
    @Test("resident and peak memory are read, the peak is at least the resident size, unknown fields are nil")
    func fields() throws {
        guard FileManager.default.fileExists(atPath: "/proc/self/status") else {
            print("SKIP process memory: no /proc/self/status on this system"); return
        }
        let resident = try #require(ProcessMemory.residentMegabytes)
        let peak = try #require(ProcessMemory.peakResidentMegabytes)
        #expect(resident > 1 && peak >= resident)
        #expect(ProcessMemory.megabytes("NoSuchField") == nil)
        // Touching 64 MiB raises the peak by about that much.
        let before = peak
        let block = UnsafeMutablePointer<UInt8>.allocate(capacity: 64 << 20)
        block.initialize(repeating: 1, count: 64 << 20)
        defer { block.deallocate() }
        #expect(try #require(ProcessMemory.peakResidentMegabytes) >= before + 32)
    }
}
