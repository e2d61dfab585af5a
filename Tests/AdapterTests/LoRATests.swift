import BiomechCore
import Foundation
import NumericsEngine
import GradientChecking
import Testing
@testable import LoRAAdapter

@Suite struct LoRAProjectionTests {
    func make(rows: Int = 5, inF: Int = 7, outF: Int = 6, rank: Int = 3, dropout: Double = 0,
              baseTrainable: Bool = false) -> (LoRAProjection, Linear, Tensor) {
        var rng = SeededRandom(seed: 7)
        let base = Linear(name: "m", inFeatures: inF, outFeatures: outF, bias: false, rng: &rng)
        if !baseTrainable { base.weight.freeze() }
        let lora = LoRAProjection(wrapping: base, name: "model.layers.0.self_attn.q_proj", rank: rank, alpha: 6,
                                  dropout: dropout, random: &rng)
        // A non-zero B so every gradient path is exercised.
        for i in 0..<lora.loraB.value.count { lora.loraB.value.data[i] = Float(rng.nextGaussian()) * 0.5 }
        let x = Tensor.randomNormal(shape: [rows, inF], std: 1, using: &rng)
        return (lora, base, x)
    }

    @Test func startsEqualToTheBase() {
        var rng = SeededRandom(seed: 3)
        let base = Linear(name: "m", inFeatures: 16, outFeatures: 9, bias: false, rng: &rng)
        let lora = LoRAProjection(wrapping: base, name: "m", rank: 4, alpha: 8, dropout: 0.1, random: &rng)
        let x = Tensor.randomNormal(shape: [3, 16], std: 1, using: &rng)
        let expected = base.forward(x).clone()
        let y = lora.forward(x)
        #expect(y.scalars == expected.scalars)
        #expect(lora.loraB.value.scalars.allSatisfy { $0 == 0 })
        // A is uniform in ±1/sqrt(in) (PEFT's kaiming_uniform_(a=√5)).
        let bound = 1 / Float(16).squareRoot()
        #expect(lora.loraA.value.scalars.allSatisfy { abs($0) <= bound })
        #expect(lora.loraA.value.scalars.map(abs).max()! > bound * 0.8)
        #expect(lora.scale == 2)
        #expect(lora.loraA.name == "base_model.model.m.lora_A.weight")
        #expect(lora.loraA.value.shape == [4, 16] && lora.loraB.value.shape == [9, 4])
    }

    @Test func forwardMatchesTheFormula() {
        let (lora, base, x) = make()
        let y = lora.forward(x).clone()
        let b = base.forward(x)
        let a = lora.loraA.value, bm = lora.loraB.value
        for r in 0..<5 {
            for o in 0..<6 {
                var s: Double = 0
                for k in 0..<3 {
                    var h: Double = 0
                    for i in 0..<7 { h += Double(x.data[r * 7 + i]) * Double(a.data[k * 7 + i]) }
                    s += h * Double(bm.data[o * 3 + k])
                }
                let expected = Double(b.data[r * 6 + o]) + 2 * s
                #expect(abs(Double(y.data[r * 6 + o]) - expected) < 1e-4)
            }
        }
    }

    @Test(arguments: [0.0, 0.3])
    func gradientsMatchFiniteDifferences(dropout: Double) {
        let (lora, base, x) = make(dropout: dropout, baseTrainable: true)
        var rng = SeededRandom(seed: 11)
        let r = Tensor.randomNormal(shape: [5, 6], std: 1, using: &rng)
        let saved = lora.random
        func loss() -> Double { lora.random = saved; return GradCheck.weightedSum(lora.forward(x), r) }
        _ = loss()
        for p in lora.parameters { p.zeroGrad() }
        let dx = lora.backward(r)!.clone()
        #expect(GradCheck.violation(GradCheck.numeric(x, loss), dx) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(lora.loraA.value, loss), lora.loraA.grad!) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(lora.loraB.value, loss), lora.loraB.grad!) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(base.weight.value, loss), base.weight.grad!) <= 0)
    }

    @Test func dropoutIsSeededAndOffAtInference() {
        let (lora, _, x) = make(dropout: 0.5)
        let saved = lora.random
        let y1 = lora.forward(x).clone()
        lora.random = saved
        let y2 = lora.forward(x).clone()
        #expect(y1.scalars == y2.scalars)
        let y3 = lora.forward(x).clone()
        #expect(y3.scalars != y1.scalars)
        lora.isTraining = false
        let e1 = lora.forward(x).clone(), e2 = lora.forward(x).clone()
        #expect(e1.scalars == e2.scalars)
    }

    @Test func noInputGradientWhenNotWanted() {
        let (lora, _, x) = make()
        lora.computeInputGradient = false
        let y = lora.forward(x)
        #expect(lora.backward(y) == nil)
        #expect(lora.loraA.grad!.scalars.contains { $0 != 0 })
    }
}

@Suite struct LoRAAdapterTests {
    @Test func attachesToTargetsAndFreezesTheRest() throws {
        let model = ToyModel(addedRows: 3)
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 4, dropout: 0, targetModules: ["q_proj", "down_proj"]))
        try adapter.attach(toModel: model)
        #expect(adapter.projections.map(\.name) == ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj",
                                                    "model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj"])
        #expect(model.projection(named: "model.layers.1.mlp.down_proj") is LoRAProjection)
        #expect(model.projection(named: "model.layers.1.mlp.up_proj") is Linear)
        let trainable = model.parameters.filter(\.isTrainable).map(\.name)
        #expect(Set(trainable) == Set(adapter.trainableParameters.map(\.name)))
        #expect(model.embedding.trainableRows == 10..<13)
        #expect(!model.norm.isTrainable)
        // 2 layers × (q: 2·8 + 8·2, down: 2·12 + 8·2) + 3 added rows × 8
        #expect(adapter.trainableParameterCount == 2 * (32 + 40) + 24)
    }

    @Test func unknownTargetIsAnError() {
        let model = ToyModel()
        let adapter = LoRAAdapter(configuration: .init(targetModules: ["q_proj", "qkv_proj"]))
        #expect(throws: InputError.self) { try adapter.attach(toModel: model) }
        do { try adapter.attach(toModel: model) } catch let e as InputError {
            #expect(e.description.contains("qkv_proj"))
            #expect(e.allowed.contains("gate_proj"))
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func peftTargetMatching() {
        #expect(LoRAAdapter.matches("model.layers.0.self_attn.q_proj", targets: ["q_proj"]))
        #expect(!LoRAAdapter.matches("model.layers.0.self_attn.qq_proj", targets: ["q_proj"]))
        #expect(LoRAAdapter.matches("model.layers.0.self_attn.q_proj", targets: ["self_attn.q_proj"]))
    }

    @Test func recipeParameters() throws {
        let c = try LoRAConfiguration(PluginParameters(["rank": "16", "alpha": "32", "target_modules": "q_proj"]))
        #expect(c.rank == 16 && c.alpha == 32 && c.dropout == 0.1 && c.targetModules == ["q_proj"])
        let d = try LoRAConfiguration(.empty)
        #expect(d.rank == 32 && d.alpha == 32 && d.targetModules.count == 7)
        #expect(throws: InputError.self) { try LoRAConfiguration(PluginParameters(["dropout": "1.5"])) }
        #expect(throws: InputError.self) { try LoRAConfiguration(PluginParameters(["rank": "0"])) }
        #expect(LoRAAdapter.descriptor.id == "lora" && LoRAAdapter.descriptor.kind == .adapter)
    }

    @Test func saveAndLoadPEFTFiles() throws {
        let model = ToyModel(addedRows: 2)
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 4, dropout: 0.1, seed: 5))
        try adapter.attach(toModel: model)
        var rng = SeededRandom(seed: 9)
        for p in adapter.projections { for i in 0..<p.loraB.value.count { p.loraB.value.data[i] = Float(rng.nextGaussian()) } }
        for i in (10 * 8)..<(12 * 8) { model.embedding.value.data[i] = Float(i) }
        let dir = temporaryDirectory("peft")
        try adapter.save(to: dir)

        let file = try SafetensorsFile(path: dir.appendingPathComponent("adapter_model.safetensors").path)
        #expect(file.names.contains("base_model.model.model.layers.1.mlp.up_proj.lora_A.weight"))
        #expect(file.entries["base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"]?.shape == [12, 2])
        #expect(file.entries[PEFTFiles.addedRowsTensor]?.shape == [2, 8])
        #expect(file.metadata["format"] == "pt")
        #expect(file.names.count == 2 * 7 * 2 + 1)
        let config = try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        #expect(config["peft_type"] as? String == "LORA")
        #expect(config["task_type"] as? String == "CAUSAL_LM")
        #expect(config["r"] as? Int == 2)
        #expect(config["lora_alpha"] as? Double == 4)
        #expect(config["bias"] as? String == "none")
        #expect((config["target_modules"] as? [String])?.count == 7)
        #expect((config["trainable_token_indices"] as? [String: [Int]])?["embed_tokens"] == [10, 11])

        // A fresh model with a fresh adapter (other seed) gets the saved values back.
        let model2 = ToyModel(addedRows: 2)
        let adapter2 = LoRAAdapter(configuration: .init(rank: 2, alpha: 4, dropout: 0.1, seed: 99))
        try adapter2.attach(toModel: model2)
        try adapter2.load(from: dir)
        for (a, b) in zip(adapter.projections, adapter2.projections) {
            #expect(a.loraA.value.scalars == b.loraA.value.scalars)
            #expect(a.loraB.value.scalars == b.loraB.value.scalars)
        }
        #expect(Array(model2.embedding.value.scalars[80..<96]) == (80..<96).map(Float.init))
        adapter.isTraining = false; adapter2.isTraining = false
        var r2 = SeededRandom(seed: 1)
        let x = Tensor.randomNormal(shape: [3, 8], std: 1, using: &r2)
        #expect(model.forward(x).scalars == model2.forward(x).scalars)

        // A rank mismatch is reported.
        let model3 = ToyModel(addedRows: 2)
        let adapter3 = LoRAAdapter(configuration: .init(rank: 3))
        try adapter3.attach(toModel: model3)
        #expect(throws: InputError.self) { try adapter3.load(from: dir) }

        // Added rows at other indices (another base vocabulary) are refused, not misplaced.
        let model4 = ToyModel(vocabulary: 12, addedRows: 2)
        let adapter4 = LoRAAdapter(configuration: .init(rank: 2, alpha: 4))
        try adapter4.attach(toModel: model4)
        let moved = #expect(throws: InputError.self) { try adapter4.load(from: dir) }
        #expect(moved?.field == "added_token_rows")
    }

    @Test func wholeToyModelGradientThroughAdapters() throws {
        let model = ToyModel(layers: 1, hidden: 4, mlp: 5)
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 2, dropout: 0))
        try adapter.attach(toModel: model)
        var rng = SeededRandom(seed: 4)
        for p in adapter.projections { for i in 0..<p.loraB.value.count { p.loraB.value.data[i] = Float(rng.nextGaussian()) * 0.3 } }
        let x = Tensor.randomNormal(shape: [3, 4], std: 1, using: &rng)
        let r = Tensor.randomNormal(shape: [3, 4], std: 1, using: &rng)
        func loss() -> Double { GradCheck.weightedSum(model.forward(x), r) }
        _ = loss()
        model.backward(r)
        for p in adapter.trainableParameters {
            let g = p.grad!.clone()
            #expect(GradCheck.violation(GradCheck.numeric(p.value, step: 1e-3, loss), g, atol: 5e-3, rtol: 2e-2) <= 0, "\(p.name)")
        }
    }
}
