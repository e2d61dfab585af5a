import BiomechCore
import Foundation
import Testing
@testable import NumericsEngine

@Suite("Layers, store and optimizer together")
struct TrainingLoopTests {
    @Test func smallRegressionLearnsAndCheckpointRoundTrips() throws {
        var rng = SeededRandom(seed: 51)
        let fc1 = Linear(name: "mlp.fc1", inFeatures: 4, outFeatures: 32, rng: &rng)
        let act = GELU()
        let fc2 = Linear(name: "mlp.fc2", inFeatures: 32, outFeatures: 2, rng: &rng)
        let store = ParameterStore(); store.add(fc1); store.add(fc2)
        #expect(store.names == ["mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"])
        fc1.computeInputGradient = false
        let x = Tensor.randomNormal(shape: [64, 4], std: 1, using: &rng)
        let target = Tensor(shape: [64, 2])
        for r in 0..<64 { target[r * 2] = x[r * 4] * x[r * 4 + 1]; target[r * 2 + 1] = sin(x[r * 4 + 2]) }
        let mse = MSELoss()
        let opt = AdamW(learningRate: 0.01, weightDecay: 0)
        let schedule = LearningRateSchedule(peak: 0.01, warmupSteps: 10, totalSteps: 300, decay: .cosine)
        var first: Float = 0, last: Float = 0
        for step in 0..<300 {
            let y = fc2.forward(act.forward(fc1.forward(x)))
            let loss = mse.forward(prediction: y, target: target)
            if step == 0 { first = loss }
            last = loss
            let dh = fc2.backward(mse.backward())!
            fc1.backward(act.backward(dh))
            GradientClipping.clipGlobalNorm(store.all, maxNorm: 5)
            opt.learningRate = schedule.rate(atStep: step)
            opt.step(store)
            store.zeroGrads()
        }
        #expect(last < first * 0.2)

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try store.save(to: url, metadata: ["step": "300"])
        var other = SeededRandom(seed: 99)
        let copy = ParameterStore()
        copy.add(Linear(name: "mlp.fc1", inFeatures: 4, outFeatures: 32, rng: &other))
        copy.add(Linear(name: "mlp.fc2", inFeatures: 32, outFeatures: 2, rng: &other))
        try copy.load(from: SafetensorsFile(path: url.path))
        for name in store.names { #expect(copy[name]!.value.scalars == store[name]!.value.scalars) }

        // Freezing by prefix drops gradients and the optimizer leaves the values alone.
        store.freeze(prefix: "mlp.fc1")
        #expect(store.trainable.map(\.name) == ["mlp.fc2.weight", "mlp.fc2.bias"])
        let before = fc1.weight.value.scalars
        _ = fc2.forward(act.forward(fc1.forward(x)))
        _ = mse.forward(prediction: fc2.forward(act.forward(fc1.forward(x))), target: target)
        fc1.backward(act.backward(fc2.backward(mse.backward())!))
        opt.step(store)
        #expect(fc1.weight.value.scalars == before)
    }
}
