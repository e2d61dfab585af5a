import BiomechCore
import CMatrixKernels
import Foundation
import Testing
@testable import NumericsEngine

@Suite("Optimizer, clipping and schedules")
struct OptimizerTests {
    @Test func adamWMatchesReferenceAndSkipsFrozen() {
        let w = Parameter(name: "a.weight", value: Tensor(shape: [2, 2], values: [1, -2, 3, 0.5]))
        let frozen = Parameter(name: "b.weight", value: Tensor(shape: [2], values: [5, 6]), isTrainable: false)
        let opt = AdamW(learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01)
        var p = [1.0, -2, 3, 0.5], m = [Double](repeating: 0, count: 4), v = m
        for step in 1...3 {
            let grads: [Double] = [0.5, -1, 0.25 * Double(step), 2]
            for i in 0..<4 { w.grad![i] = Float(grads[i]) }
            opt.step([w, frozen])
            for i in 0..<4 {
                p[i] -= 0.1 * 0.01 * p[i]
                m[i] = 0.9 * m[i] + 0.1 * grads[i]
                v[i] = 0.99 * v[i] + 0.01 * grads[i] * grads[i]
                let mh = m[i] / (1 - pow(0.9, Double(step))), vh = v[i] / (1 - pow(0.99, Double(step)))
                p[i] -= 0.1 * mh / (vh.squareRoot() + 1e-8)
            }
            for i in 0..<4 { #expect(abs(Double(w.value[i]) - p[i]) < 1e-5) }
        }
        #expect(frozen.value.scalars == [5, 6])
        #expect(opt.stepCount == 3)
    }

    /// 1,003 values: 62 vectors of 16 and a tail of 11 through the kernel, against a Double
    /// reference, and the vector path's bits against the portable scalar path's.
    @Test func adamWKernelMatchesReferenceAndScalarPathOnLongTensors() {
        let n = 1003
        var rng = SeededRandom(seed: 11)
        let start = (0..<n).map { _ in Float(rng.nextGaussian()) }
        let w = Parameter(name: "long.weight", value: Tensor(shape: [n], values: start))
        let opt = AdamW(learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1)
        var p = start.map(Double.init), m = [Double](repeating: 0, count: n), v = m
        var wVector = start, wScalar = start
        var mVector = [Float](repeating: 0, count: n), vVector = mVector, mScalar = mVector, vScalar = mVector
        for step in 1...4 {
            // Gradients over many magnitudes, zeros included.
            let grads = (0..<n).map { i in i % 97 == 0 ? Float(0) : Float(rng.nextGaussian()) * powf(10, Float(i % 7) - 3) }
            for i in 0..<n { w.grad![i] = grads[i] }
            opt.step([w])
            let bc1 = 1 - pow(0.9, Double(step)), bc2 = 1 - pow(0.99, Double(step))
            var worst = 0.0
            for i in 0..<n {
                let g = Double(grads[i])
                p[i] -= 0.01 * 0.1 * p[i]
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.99 * v[i] + 0.01 * g * g
                p[i] -= 0.01 * (m[i] / bc1) / ((v[i] / bc2).squareRoot() + 1e-8)
                worst = max(worst, abs(Double(w.value[i]) - p[i]))
            }
            #expect(worst < 1e-5, "step \(step): largest difference from the Double reference \(worst)")

            let k = adamw_coefficients(beta1: 0.9, beta2: 0.99, decay: 1 - 0.01 * 0.1, step_size: 0.01 / (1 - powf(0.9, Float(step))),
                                       inv_sqrt_bias2: 1 / (1 - powf(0.99, Float(step))).squareRoot(), epsilon: 1e-8)
            adamw_update(&wVector, grads, &mVector, &vVector, Int64(n), k)
            adamw_update_portable(&wScalar, grads, &mScalar, &vScalar, Int64(n), k)
            #expect(wVector.map(\.bitPattern) == wScalar.map(\.bitPattern), "step \(step): vector and scalar weights differ")
            #expect(mVector == mScalar && vVector.map(\.bitPattern) == vScalar.map(\.bitPattern), "step \(step): moments differ")
            #expect(wVector.map(\.bitPattern) == w.value.scalars.map(\.bitPattern), "step \(step): the optimizer is not this kernel")
        }
    }

    @Test func adamWUpdatesOnlyTrainableRowsAndResumesExactly() throws {
        let make = { Parameter(name: "embed.weight", value: Tensor(shape: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8])) }
        let a = make()
        a.setTrainableRows(2..<4)
        let opt = AdamW(learningRate: 0.05)
        for i in 0..<4 { a.grad![i] = Float(i) - 1.5 }
        opt.step([a])
        #expect(Array(a.value.scalars[0..<4]) == [1, 2, 3, 4])
        #expect(a.value[4] != 5)

        // Save state, resume in a fresh optimizer: the next step is identical.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("adamw-state-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(opt.stateTensors(), to: url)
        let b = make(); b.setTrainableRows(2..<4); b.value.copy(from: a.value)
        let resumed = AdamW(learningRate: 0.05)
        try resumed.loadState(try Safetensors.read(url), stepCount: opt.stepCount, parameters: [b])
        b.grad!.copy(from: a.grad!)
        opt.step([a]); resumed.step([b])
        #expect(a.value.scalars == b.value.scalars)
        #expect(throws: InputError.self) { try AdamW(learningRate: 1).loadState([:], stepCount: 1, parameters: [b]) }
    }

    @Test func clipByGlobalNorm() {
        let a = Parameter(name: "a", value: Tensor(shape: [2])), b = Parameter(name: "b", value: Tensor(shape: [1]))
        a.grad![0] = 3; a.grad![1] = 0; b.grad![0] = 4
        #expect(abs(GradientClipping.clipGlobalNorm([a, b], maxNorm: 10) - 5) < 1e-6)
        #expect(a.grad![0] == 3)
        #expect(abs(GradientClipping.clipGlobalNorm([a, b], maxNorm: 1) - 5) < 1e-6)
        #expect(abs(GradientClipping.globalNorm([a, b]) - 1) < 1e-5)
    }

    @Test func schedules() {
        let cosine = LearningRateSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, minimum: 0.1, decay: .cosine)
        #expect(abs(cosine.rate(atStep: 0) - 0.1) < 1e-6)
        #expect(abs(cosine.rate(atStep: 9) - 1) < 1e-6)
        #expect(abs(cosine.rate(atStep: 60) - 0.55) < 1e-6)
        #expect(abs(cosine.rate(atStep: 110) - 0.1) < 1e-6)
        #expect(abs(cosine.rate(atStep: 500) - 0.1) < 1e-6)
        let linear = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 100, decay: .linear)
        #expect(abs(linear.rate(atStep: 25) - 1.5) < 1e-6)
        let multi = LearningRateSchedule(peak: 2e-4, warmupSteps: 1000, totalSteps: 300_000,
                                         decay: .multistep(milestones: [200_000], gamma: 0.05))
        #expect(abs(multi.rate(atStep: 199_999) - 2e-4) < 1e-10)
        #expect(abs(multi.rate(atStep: 200_000) - 1e-5) < 1e-10)
        #expect(LearningRateSchedule(peak: 3, totalSteps: 10, decay: .constant).rate(atStep: 7) == 3)
    }

    @Test func parallelForCoversEveryIndexOnce() {
        Threads.withCount(2) { parallelForCoversEveryIndexOnceWithTwoThreads() }
    }

    func parallelForCoversEveryIndexOnceWithTwoThreads() {
        let n = 100_003
        let hits = Tensor(shape: [n])
        let h = hits.data
        Threads.parallelFor(n, minPerThread: 1000) { r in for i in r { h[i] += 1 } }
        #expect(hits.scalars.allSatisfy { $0 == 1 })
        let parts = Tensor(shape: [2])
        let p = parts.data
        Threads.parallelParts(10, parts: 2) { part, r in p[part] = Float(r.count) }
        #expect(parts.scalars == [5, 5])
    }
}
