import Foundation
import Testing
@testable import NumericsEngine

@Suite("OpenBLAS kernel family")
struct BLASKernelsTests {
    @Test("the family OpenBLAS runs is named (and is the forced one when OPENBLAS_CORETYPE names a known family)")
    func coreName() {
        let name = BLASKernels.coreName
        #expect(!name.isEmpty && name != "unknown")
        if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
           ["haswell", "skylakex", "cooperlake", "zen", "sandybridge"].contains(forced.lowercased()) {
            #expect(name.lowercased() == forced.lowercased())
        }
    }
}
