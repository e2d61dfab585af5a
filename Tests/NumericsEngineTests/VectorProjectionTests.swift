import Foundation
import BiomechCore
import GradientChecking
import Testing
@testable import NumericsEngine

@Suite("Motion vector projection")
struct VectorProjectionTests {
    /// Input standardisation from arbitrary-scale "encoder" vectors.
    func vectors(rows: Int, width: Int, _ rng: inout SeededRandom) -> [Float] {
        (0..<(rows * width)).map { i in Float(rng.nextGaussian()) * Float(1 + i % width) * 3 + Float(i % width) }
    }

    @Test(arguments: [VectorProjectionSpec.Kind.linear, .mlp])
    func gradientsMatchFiniteDifferences(kind: VectorProjectionSpec.Kind) {
        var rng = SeededRandom(seed: 4)
        let p = VectorProjection(spec: .init(kind: kind, hidden: 7), inputWidth: 5, outputWidth: 6, seed: 2)
        let values = vectors(rows: 9, width: 5, &rng)
        p.setStandardization(from: values, rows: 9)
        let x = Tensor(shape: [4, 5], values: Array(values.prefix(20)))
        let r = GradCheck.random([4, 6], &rng)
        let loss = { GradCheck.weightedSum(p.forward(x), r) }
        for q in p.parameters { q.zeroGrad() }
        _ = p.forward(x)
        let dx = p.backward(r).clone()
        // Raw inputs are large (std up to 15); a step of 1e-2 of them is still smooth.
        #expect(GradCheck.violation(GradCheck.numeric(x, loss), dx) <= 0)
        for q in p.parameters {
            #expect(GradCheck.violation(GradCheck.numeric(q.value, loss), q.grad!) <= 0, "\(q.name)")
        }
        #expect(p.parameters.map(\.name) == (kind == .linear
            ? ["motion_projection.0.weight", "motion_projection.0.bias"]
            : ["motion_projection.0.weight", "motion_projection.0.bias", "motion_projection.2.weight", "motion_projection.2.bias"]))
    }

    @Test func standardizationAndCalibration() {
        var rng = SeededRandom(seed: 5)
        let p = VectorProjection(spec: .init(kind: .mlp), inputWidth: 3, outputWidth: 8, seed: 1)
        #expect(p.hiddenWidth == 8)
        let values = vectors(rows: 200, width: 3, &rng)
        p.setStandardization(from: values, rows: 200)
        // Known values: per-column mean and 1/std of the data.
        for j in 0..<3 {
            let column = (0..<200).map { Double(values[$0 * 3 + j]) }
            let mean = column.reduce(0, +) / 200
            let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 200).squareRoot()
            #expect(abs(Double(p.inputMean[j]) - mean) < 1e-4 * max(1, abs(mean)))
            #expect(abs(Double(p.inputInverseStd[j]) - 1 / std) < 1e-4 / std)
        }
        p.calibrate(on: values, rows: 200, targetRMS: 0.75)
        let y = p.forward(Tensor(shape: [200, 3], values: values))
        let rms = (y.scalars.map { Double($0) * Double($0) }.reduce(0, +) / Double(y.count)).squareRoot()
        #expect(abs(rms - 0.75) < 1e-4)
        // A constant column keeps scale 1 instead of dividing by zero.
        let flat = VectorProjection(spec: .init(kind: .linear), inputWidth: 2, outputWidth: 2, seed: 1)
        flat.setStandardization(from: [1, 5, 1, 6, 1, 7], rows: 3)
        #expect(flat.inputInverseStd[0] == 1 && flat.inputMean[0] == 1)
    }

    @Test func stateRoundTripAndErrors() throws {
        let a = VectorProjection(spec: .init(kind: .mlp, hidden: 4), inputWidth: 3, outputWidth: 5, seed: 1)
        let b = VectorProjection(spec: .init(kind: .mlp, hidden: 4), inputWidth: 3, outputWidth: 5, seed: 9)
        a.setStandardization(from: [1, 2, 3, 4, 5, 7], rows: 2)
        try b.load(a.stateTensors, file: "p.safetensors")
        let x = Tensor(shape: [2, 3], values: [0.5, -1, 2, 3, 0, 1])
        #expect(a.forward(x).scalars == b.forward(x).scalars)
        var missing = a.stateTensors
        missing["motion_projection.2.weight"] = nil
        let error = #expect(throws: InputError.self) { try b.load(missing, file: "p.safetensors") }
        #expect(error?.field == "motion_projection.2.weight" && error?.file == "p.safetensors")
        let linear = VectorProjection(spec: .init(kind: .linear), inputWidth: 3, outputWidth: 5, seed: 1)
        #expect(throws: InputError.self) { try linear.load(["motion_projection.0.weight": Tensor(shape: [4, 3])], file: "p") }
    }
}
