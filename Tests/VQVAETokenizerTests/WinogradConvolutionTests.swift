import BiomechCore
import Foundation
import Testing
@testable import NumericsEngine
@testable import VQVAETokenizer

/// Winograd F(2, 3) against the engine's per-sequence `Conv1d` (an independent direct
/// convolution): output, input gradient, weight and bias gradients, for dilations and lengths
/// where pairs are dropped at the sequence end, lengths shorter than the dilation and length 1.
@Suite("winograd convolution")
struct WinogradConvolutionTests {
    @Test(arguments: [(1, 1), (1, 2), (1, 3), (1, 8), (1, 7), (3, 16), (3, 5), (9, 4), (9, 16), (9, 19), (2, 1), (27, 64)])
    func matchesDirectConvolution(dilation: Int, time: Int) throws {
        var rng = SeededRandom(seed: UInt64(100 * dilation + time))
        let conv = PackedConv1d(name: "c", inChannels: 6, outChannels: 5, kernelSize: 3, dilation: dilation, padding: dilation,
                                scratch: PackedScratch(), rng: &rng)
        conv.algorithm = .winograd
        let ref = Conv1d(weight: Parameter(name: "w", value: conv.weight.value.clone()),
                         bias: Parameter(name: "b", value: conv.bias.value.clone()), stride: 1, dilation: dilation, padding: dilation)
        let batch = 3
        let x = Tensor.randomNormal(shape: [batch, 6, time], std: 1, using: &rng)
        let s = PackedShape(channels: 6, batch: batch, time: time)
        let y = conv.forward(Tensor(shape: [6, batch * time], values: ReferenceTests.pack(x)), s)
        let yRef = ref.forward(x)
        #expect(ReferenceTests.relativeError(y.scalars, ReferenceTests.pack(yRef)) < 1e-6)
        let dy = Tensor.randomNormal(shape: yRef.shape, std: 1, using: &rng)
        let dx = try #require(conv.backward(Tensor(shape: y.shape, values: ReferenceTests.pack(dy))))
        let dxRef = try #require(ref.backward(dy))
        #expect(ReferenceTests.relativeError(dx.scalars, ReferenceTests.pack(dxRef)) < 1e-6)
        #expect(ReferenceTests.relativeError(conv.weight.grad!.scalars, ref.weight.grad!.scalars) < 1e-5)
        #expect(ReferenceTests.relativeError(conv.bias.grad!.scalars, ref.bias!.grad!.scalars) < 1e-5)
    }

    @Test(arguments: [2, 4])
    func tilesCoverEveryStepOnce(tile: Int) {
        for d in [1, 2, 3, 9] {
            for time in [1, 2, d, d + 1, 2 * d, 2 * d + 1, 4 * d + 1, 37] {
                var starts: [Int] = [], indices: [Int] = []
                WinogradKernel3.forEachTile(time: time, dilation: d, tile: tile) { t, j in starts.append(t); indices.append(j) }
                var covered = starts.flatMap { t in (0..<tile).map { t + $0 * d } }.filter { $0 < time }
                covered.sort()
                #expect(covered == Array(0..<time), "dilation \(d), length \(time)")
                #expect(starts.allSatisfy { ($0 / d) % tile == 0 })
                #expect(indices == Array(0..<starts.count))
                #expect(WinogradKernel3.tileCount(time: time, dilation: d, tile: tile) == starts.count)
            }
        }
    }

    @Test func tileChoiceCountsProducts() {
        #expect(WinogradKernel3.tileSize(time: 64, dilation: 1) == 4)   // 96 products against 128
        #expect(WinogradKernel3.tileSize(time: 32, dilation: 3) == 4)   // 54 against 68
        #expect(WinogradKernel3.tileSize(time: 16, dilation: 3) == 2)   // 36 against 36: the smaller tile
        #expect(WinogradKernel3.tileSize(time: 16, dilation: 9) == 2)   // 54 against 36
    }

    /// Each tile forced, on the kernel directly, against the engine's `Conv1d`.
    @Test(arguments: [(2, 1, 7), (4, 1, 1), (4, 1, 5), (4, 1, 16), (4, 3, 13), (4, 9, 16), (4, 2, 3), (2, 9, 19)])
    func eachTileMatchesDirectConvolution(tile: Int, dilation: Int, time: Int) throws {
        var rng = SeededRandom(seed: UInt64(1000 * tile + 10 * dilation + time))
        let cin = 6, cout = 5, batch = 2
        let w = Tensor.randomUniform(shape: [cout, cin, 3], bound: 0.4, using: &rng)
        let bias = Tensor.randomUniform(shape: [cout], bound: 0.4, using: &rng)
        let ref = Conv1d(weight: Parameter(name: "w", value: w.clone()), bias: Parameter(name: "b", value: bias.clone()),
                         stride: 1, dilation: dilation, padding: dilation)
        let x = Tensor.randomNormal(shape: [batch, cin, time], std: 1, using: &rng)
        let kernel = WinogradKernel3(inChannels: cin, outChannels: cout, dilation: dilation)
        let scratch = PackedScratch()
        let y = Tensor(shape: [cout, batch * time])
        let packedX = Tensor(shape: [cin, batch * time], values: ReferenceTests.pack(x))
        kernel.forward(packedX.data, PackedShape(channels: cin, batch: batch, time: time), weight: w.data, bias: bias.data,
                       precision: .float32, scratch: scratch, into: y.data, tile: tile)
        #expect(kernel.tile == tile)
        let yRef = ref.forward(x)
        #expect(ReferenceTests.relativeError(y.scalars, ReferenceTests.pack(yRef)) < 1e-5)
        let dy = Tensor.randomNormal(shape: yRef.shape, std: 1, using: &rng)
        let gw = Tensor(shape: [cout, cin, 3]), gb = Tensor(shape: [cout]), dx = Tensor(shape: [cin, batch * time])
        let packedDy = Tensor(shape: [cout, batch * time], values: ReferenceTests.pack(dy))
        kernel.backward(packedDy.data, gradWeight: gw.data, gradBias: gb.data, precision: .float32, scratch: scratch, into: dx.data)
        let dxRef = try #require(ref.backward(dy))
        #expect(ReferenceTests.relativeError(dx.scalars, ReferenceTests.pack(dxRef)) < 1e-5)
        #expect(ReferenceTests.relativeError(gw.scalars, ref.weight.grad!.scalars) < 1e-5)
        #expect(ReferenceTests.relativeError(gb.scalars, ref.bias!.grad!.scalars) < 1e-5)
    }

    @Test("bfloat16 products through either tile stay within bfloat16 rounding of float32", arguments: [2, 4])
    func bfloat16Products(tile: Int) throws {
        guard BLAS.hasBFloat16Products else { print("SKIP winograd bfloat16: this processor has no AVX512-BF16"); return }
        var rng = SeededRandom(seed: UInt64(40 + tile))
        let cin = 48, cout = 40, batch = 3, time = 40, dilation = 1
        let w = Tensor.randomUniform(shape: [cout, cin, 3], bound: 0.15, using: &rng)
        let bias = Tensor.randomUniform(shape: [cout], bound: 0.15, using: &rng)
        let x = Tensor.randomNormal(shape: [cin, batch * time], std: 1, using: &rng)
        let dy = Tensor.randomNormal(shape: [cout, batch * time], std: 1, using: &rng)
        func pass(_ precision: ProductPrecision) -> [[Float]] {
            let kernel = WinogradKernel3(inChannels: cin, outChannels: cout, dilation: dilation)
            let scratch = PackedScratch()
            let y = Tensor(shape: [cout, batch * time]), gw = Tensor(shape: [cout, cin, 3]), dx = Tensor(shape: [cin, batch * time])
            kernel.forward(x.data, PackedShape(channels: cin, batch: batch, time: time), weight: w.data, bias: bias.data,
                           precision: precision, scratch: scratch, into: y.data, tile: tile)
            kernel.backward(dy.data, gradWeight: gw.data, gradBias: nil, precision: precision, scratch: scratch, into: dx.data)
            return [y.scalars, dx.scalars, gw.scalars]
        }
        let full = pass(.float32), mixed = pass(.bfloat16)
        for (i, name) in ["output", "input gradient", "weight gradient"].enumerated() {
            let e = ReferenceTests.relativeError(mixed[i], full[i])
            print("winograd F(\(tile), 3) bfloat16 \(name): relative error \(e)")
            // Measured: F(2, 3) ≈ 0.4 %, F(4, 3) ≈ 1.2 % of the largest value (its transforms
            // multiply by up to 8, so bfloat16's rounding of the products grows with them).
            #expect(e < (tile == 2 ? 1.0 / 128 : 1.0 / 40) && e > 0, "\(name): relative error \(e)")
        }
    }

    @Test func otherShapesStayDirect() throws {
        // A stride-2 or kernel-4 convolution ignores `winograd` and gives the direct result.
        var rng = SeededRandom(seed: 3)
        let conv = PackedConv1d(name: "c", inChannels: 4, outChannels: 4, kernelSize: 4, stride: 2, padding: 1,
                                scratch: PackedScratch(), rng: &rng)
        let x = Tensor.randomNormal(shape: [4, 2 * 10], std: 1, using: &rng)
        let s = PackedShape(channels: 4, batch: 2, time: 10)
        let direct = conv.forward(x, s).scalars
        conv.algorithm = .winograd
        #expect(conv.forward(x, s).scalars == direct)
    }

    @Test func networkTrainsTheSameFunctionEitherWay() throws {
        // One training step of a small network: losses and gradients agree to float rounding.
        var config = VQVAEConfiguration()
        config.codebookSize = 16; config.codebookDim = 8; config.width = 16; config.depth = 2
        config.window = 16; config.batchSize = 2; config.resetThreshold = 0
        var results: [(VQVAETrainer.StepStats, [Float])] = []
        for algorithm in ConvolutionAlgorithm.allCases {
            config.convolution = algorithm
            let trainer = VQVAETrainer(configuration: config, inputChannels: 5)
            var rng = SeededRandom(seed: 5)
            for i in 0..<trainer.batch.count { trainer.batch.data[i] = Float(rng.nextGaussian()) }
            let stats = trainer.forwardBackward(reset: .random)
            results.append((stats, trainer.network.store.all.flatMap { $0.grad!.scalars }))
        }
        #expect(abs(results[0].0.loss - results[1].0.loss) <= 1e-5 * results[0].0.loss)
        #expect(ReferenceTests.relativeError(results[1].1, results[0].1) < 1e-4)
        #expect(try VQVAEConfiguration(PluginParameters(["convolution": "winograd"])).convolution == .winograd)
        #expect(throws: InputError.self) { _ = try VQVAEConfiguration(PluginParameters(["convolution": "fft"])) }
    }
}
