import BiomechCore
import Foundation
import Testing
@testable import NumericsEngine
@testable import VQVAETokenizer

/// The network against PyTorch (fixture made by scripts/fixtures/make_vqvae_fixture.py):
/// same weights and input → same encoder output, codes, EMA update, reconstruction, losses
/// and weight gradients.
@Suite("vqvae reference check")
struct ReferenceTests {
    /// Largest |a − b| relative to the largest |b| of the tensor.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        let scale = max(b.map(abs).max() ?? 0, 1e-12)
        var worst: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i]) / scale) }
        return worst
    }

    /// `[B, C, T]` → packed `[C, B·T]`.
    static func pack(_ t: Tensor) -> [Float] {
        let b = t.shape[0], c = t.shape[1], n = t.shape[2]
        var out = [Float](repeating: 0, count: t.count)
        for bi in 0..<b { for ci in 0..<c { for ti in 0..<n { out[ci * b * n + bi * n + ti] = t.data[(bi * c + ci) * n + ti] } } }
        return out
    }

    @Test func forwardBackwardAndEMAMatchPyTorch() throws {
        // Bit-identity needs a fixed thread count while other suites may change it.
        try Threads.withCount(2) { try forwardBackwardAndEMAMatchPyTorchWithTwoThreads() }
    }

    func forwardBackwardAndEMAMatchPyTorchWithTwoThreads() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/vqvae_reference", withExtension: "safetensors"))
        let file = try SafetensorsFile(path: url.path)
        var config = VQVAEConfiguration()
        config.codebookSize = 32; config.codebookDim = 8; config.width = 16; config.depth = 2
        config.dilationGrowth = 3; config.downsampling = 4; config.window = 16; config.batchSize = 2
        config.commitment = 0.02; config.velocityLoss = 0.5; config.emaDecay = 0.99; config.resetThreshold = 1
        let trainer = VQVAETrainer(configuration: config, inputChannels: 6)
        let net = trainer.network
        // Same names on both sides: every Swift parameter has a fixture weight and gradient.
        let fixtureWeights = Set(file.names.filter { $0.hasPrefix("weight.") }.map { String($0.dropFirst(7)) })
        #expect(Set(net.store.names) == fixtureWeights)
        for p in net.store.all { try file.read("weight." + p.name, into: p.value) }
        net.quantizer.setState(codebook: try file.tensor("codebook_before").scalars,
                               codeSum: try file.tensor("code_sum_before").scalars,
                               codeCount: try file.tensor("code_count_before").scalars)
        let input = try file.tensor("input")
        trainer.batch.copy(from: Tensor(shape: trainer.batch.shape, values: Self.pack(input)))
        let resetRows = try file.tensor("reset_rows").scalars.map { Int($0) }

        // Encoder output (checked separately: the trainer's pass reuses the buffers).
        let z = net.encode(trainer.batch, PackedShape(channels: 6, batch: 2, time: 16)).clone()
        let zRef = Self.pack(try file.tensor("encoder_output"))
        let zError = Self.relativeError(z.scalars, zRef)
        #expect(zError < 1e-5, "encoder output relative error \(zError)")

        let stats = trainer.forwardBackward(reset: .given(resetRows))
        #expect(net.quantizer.indices == (try file.tensor("indices").scalars.map { Int($0) }))

        let losses = try file.tensor("losses").scalars  // reconstruction, commitment, velocity, total, perplexity
        #expect(abs(stats.reconstruction - losses[0]) <= 1e-5 * losses[0])
        #expect(abs(stats.commitment - losses[1]) <= 1e-4 * losses[1])
        #expect(abs(stats.velocity - losses[2]) <= 1e-5 * losses[2])
        #expect(abs(stats.loss - losses[3]) <= 1e-5 * losses[3])
        #expect(abs(Float(stats.perplexity) - losses[4]) <= 1e-4 * losses[4])

        let recon = try #require(trainer.lastReconstruction)
        let reconError = Self.relativeError(recon.scalars, Self.pack(try file.tensor("reconstruction")))
        #expect(reconError < 1e-5, "reconstruction relative error \(reconError)")

        var worstGradient: (String, Float) = ("", 0)
        for p in net.store.all {
            let e = Self.relativeError(p.grad!.scalars, try file.tensor("grad." + p.name).scalars)
            if e > worstGradient.1 { worstGradient = (p.name, e) }
        }
        print("vqvae reference: encoder \(zError), reconstruction \(reconError), worst gradient \(worstGradient.0) \(worstGradient.1)")
        #expect(worstGradient.1 < 1e-4, "worst gradient \(worstGradient.0): relative error \(worstGradient.1)")

        // EMA: sums and counts, the surviving codes and the reset ones.
        let countAfter = try file.tensor("code_count_after").scalars
        #expect(Self.relativeError(net.quantizer.codeCount.scalars, countAfter) < 1e-6)
        #expect(Self.relativeError(net.quantizer.codeSum.scalars, try file.tensor("code_sum_after").scalars) < 1e-5)
        #expect(Self.relativeError(net.quantizer.codebook.scalars, try file.tensor("codebook_after").scalars) < 1e-5)
        let dead = countAfter.filter { $0 < 1 }.count
        #expect(dead > 0 && dead < 32, "the fixture exercises both kept and reset codes (\(dead) reset)")
        #expect(stats.resetCodes == dead)
    }
}
