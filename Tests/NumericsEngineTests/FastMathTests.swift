import Foundation
import Testing
@testable import NumericsEngine

@Suite("Fast elementary functions and reductions")
struct FastMathTests {
    @Test func expRelativeError() {
        var worst: Double = 0
        var x: Float = -80
        while x < 80 {
            let want = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(FastMath.exp(x)) - want) / want)
            x += 0.0137
        }
        #expect(worst < 4e-7)
        #expect(FastMath.exp(0) == 1)
        #expect(FastMath.exp(-.infinity) < 1e-37)
        #expect(FastMath.exp(1000).isFinite)
    }

    @Test func vectorExpMatchesScalarPath() {
        var values = (0..<45).map { Float($0) * 0.37 - 9 }
        values.withUnsafeMutableBufferPointer { p in FastMath.expInPlace(p.baseAddress!, count: 45, subtracting: 1.5) }
        for (i, v) in values.enumerated() {
            let want = Foundation.exp(Double((Float(i) * 0.37 - 9) - 1.5))  // the argument as the kernel forms it in Float
            #expect(abs(Double(v) - want) / want < 4e-7)
        }
    }

    @Test func reductions() {
        let values = (0..<37).map { Float($0) * 0.5 - 3 }
        values.withUnsafeBufferPointer { p in
            #expect(Reduce.sum(p.baseAddress!, count: 37) == values.reduce(0, +))
            #expect(Reduce.max(p.baseAddress!, count: 37) == 15)
            #expect(abs(Reduce.dot(p.baseAddress!, p.baseAddress!, count: 37) - values.reduce(0) { $0 + $1 * $1 }) < 1e-3)
            #expect(Reduce.max(p.baseAddress!, count: 0) == -.infinity)
        }
    }
}
