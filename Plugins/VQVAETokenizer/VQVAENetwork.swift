import BiomechCore
import NumericsEngine

/// The sizes of the network (T2M-GPT's `HumanVQVAE` with `stride_t = 2`).
public struct VQVAEArchitecture: Codable, Sendable, Equatable {
    /// Feature channels of the input (the representation's channel count).
    public var inputChannels: Int
    public var codebookSize: Int
    public var codebookDim: Int
    public var width: Int
    /// Residual blocks per resolution.
    public var depth: Int
    public var dilationGrowth: Int
    /// Frames per token: 2^downT (4 → two stride-2 stages, 16 → four).
    public var downsampling: Int

    public init(inputChannels: Int, codebookSize: Int = 512, codebookDim: Int = 512, width: Int = 512,
                depth: Int = 3, dilationGrowth: Int = 3, downsampling: Int = 4) {
        self.inputChannels = inputChannels; self.codebookSize = codebookSize; self.codebookDim = codebookDim
        self.width = width; self.depth = depth; self.dilationGrowth = dilationGrowth; self.downsampling = downsampling
    }

    /// The number of stride-2 stages.
    public var downT: Int { downsampling.trailingZeroBitCount }

    /// The encoder's dilations per stage, T2M-GPT order: growth⁰, growth¹, … (1, 3, 9);
    /// the decoder uses them reversed (9, 3, 1), mirroring the encoder.
    public var encoderDilations: [Int] {
        (0..<depth).map { j in (0..<j).reduce(1) { acc, _ in acc * dilationGrowth } }
    }

    /// Throws unless every size is usable.
    public func validate(path: String = "tokenizer") throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw InputError(field: "\(path).\(key)", message) }
        }
        try check(inputChannels > 0, "input_channels", "must be positive")
        try check(codebookSize >= 2, "codebook_size", "must be at least 2, got \(codebookSize)")
        try check(codebookDim > 0, "codebook_dim", "must be positive, got \(codebookDim)")
        try check(width > 0, "width", "must be positive, got \(width)")
        try check(depth >= 0, "depth", "must not be negative, got \(depth)")
        try check(dilationGrowth >= 1, "dilation_growth", "must be at least 1, got \(dilationGrowth)")
        try check(downsampling >= 2 && downsampling <= 64 && downsampling.nonzeroBitCount == 1, "downsampling",
                  "must be a power of two between 2 and 64 (the paper uses 4; 16 is the coarse setting), got \(downsampling)")
    }
}

/// `x + conv2(relu(conv1(relu(x))))`: conv1 is kernel 3 with `dilation` (padding = dilation),
/// conv2 is kernel 1 (T2M-GPT's `ResConv1DBlock` without normalisation).
final class ResidualBlock {
    let relu1 = ReLU(), relu2 = ReLU()
    let conv1: PackedConv1d, conv2: PackedConv1d
    private var output: Tensor?
    private var gradInput: Tensor?

    init(name: String, width: Int, dilation: Int, scratch: PackedScratch, rng: inout SeededRandom) {
        conv1 = PackedConv1d(name: name + ".conv1", inChannels: width, outChannels: width, kernelSize: 3,
                             dilation: dilation, padding: dilation, scratch: scratch, rng: &rng)
        conv2 = PackedConv1d(name: name + ".conv2", inChannels: width, outChannels: width, kernelSize: 1,
                             scratch: scratch, rng: &rng)
    }

    var parameters: [Parameter] { conv1.parameters + conv2.parameters }
    var convolutions: [PackedConv1d] { [conv1, conv2] }

    func forward(_ x: Tensor, _ s: PackedShape) -> Tensor {
        let h = conv2.forward(relu2.forward(conv1.forward(relu1.forward(x), s)), s)
        let y = Tensor.reuse(output, shape: x.shape); output = y
        Elementwise.add(x, h, into: y)
        return y
    }

    func backward(_ dy: Tensor) -> Tensor {
        let dh = relu1.backward(conv1.backward(relu2.backward(conv2.backward(dy)!))!)
        let dx = Tensor.reuse(gradInput, shape: dy.shape); gradInput = dx
        Elementwise.add(dy, dh, into: dx)
        return dx
    }
}

/// The convolutional encoder: `[in, B·T]` → `[codebookDim, B·T/downsampling]`.
final class VQVAEEncoder {
    let convIn: PackedConv1d
    let reluIn = ReLU()
    let down: [PackedConv1d]
    let res: [[ResidualBlock]]
    let convOut: PackedConv1d

    init(_ a: VQVAEArchitecture, scratch: PackedScratch, rng: inout SeededRandom) {
        convIn = PackedConv1d(name: "encoder.conv_in", inChannels: a.inputChannels, outChannels: a.width, kernelSize: 3,
                              padding: 1, scratch: scratch, rng: &rng)
        convIn.computeInputGradient = false
        var down: [PackedConv1d] = [], res: [[ResidualBlock]] = []
        for i in 0..<a.downT {
            down.append(PackedConv1d(name: "encoder.down.\(i).conv", inChannels: a.width, outChannels: a.width, kernelSize: 4,
                                     stride: 2, padding: 1, scratch: scratch, rng: &rng))
            res.append(a.encoderDilations.enumerated().map { j, d in
                ResidualBlock(name: "encoder.down.\(i).res.\(j)", width: a.width, dilation: d, scratch: scratch, rng: &rng)
            })
        }
        self.down = down; self.res = res
        convOut = PackedConv1d(name: "encoder.conv_out", inChannels: a.width, outChannels: a.codebookDim, kernelSize: 3,
                               padding: 1, scratch: scratch, rng: &rng)
    }

    var parameters: [Parameter] {
        convIn.parameters + zip(down, res).flatMap { d, r in d.parameters + r.flatMap(\.parameters) } + convOut.parameters
    }
    var convolutions: [PackedConv1d] {
        [convIn] + zip(down, res).flatMap { d, r in [d] + r.flatMap(\.convolutions) } + [convOut]
    }

    func forward(_ x: Tensor, _ s: PackedShape) -> Tensor {
        var h = reluIn.forward(convIn.forward(x, s))
        var time = s.time
        for (d, blocks) in zip(down, res) {
            h = d.forward(h, PackedShape(channels: d.inChannels, batch: s.batch, time: time))
            time = d.outputLength(time)
            for b in blocks { h = b.forward(h, PackedShape(channels: d.outChannels, batch: s.batch, time: time)) }
        }
        return convOut.forward(h, PackedShape(channels: convOut.inChannels, batch: s.batch, time: time))
    }

    func backward(_ dz: Tensor) {
        var g = convOut.backward(dz)!
        for (d, blocks) in zip(down, res).reversed() {
            for b in blocks.reversed() { g = b.backward(g) }
            g = d.backward(g)!
        }
        convIn.backward(reluIn.backward(g))
    }
}

/// The decoder, mirroring the encoder: `[codebookDim, B·T']` → `[in, B·T'·downsampling]`.
final class VQVAEDecoder {
    let convIn: PackedConv1d
    let reluIn = ReLU()
    let res: [[ResidualBlock]]
    let upsample: [UpsampleNearest2x]
    let up: [PackedConv1d]
    let convMid: PackedConv1d
    let reluMid = ReLU()
    let convOut: PackedConv1d

    init(_ a: VQVAEArchitecture, scratch: PackedScratch, rng: inout SeededRandom) {
        convIn = PackedConv1d(name: "decoder.conv_in", inChannels: a.codebookDim, outChannels: a.width, kernelSize: 3,
                              padding: 1, scratch: scratch, rng: &rng)
        var res: [[ResidualBlock]] = [], up: [PackedConv1d] = []
        for i in 0..<a.downT {
            res.append(a.encoderDilations.reversed().enumerated().map { j, d in
                ResidualBlock(name: "decoder.up.\(i).res.\(j)", width: a.width, dilation: d, scratch: scratch, rng: &rng)
            })
            up.append(PackedConv1d(name: "decoder.up.\(i).conv", inChannels: a.width, outChannels: a.width, kernelSize: 3,
                                   padding: 1, scratch: scratch, rng: &rng))
        }
        self.res = res; self.up = up
        upsample = (0..<a.downT).map { _ in UpsampleNearest2x() }
        convMid = PackedConv1d(name: "decoder.conv_mid", inChannels: a.width, outChannels: a.width, kernelSize: 3,
                               padding: 1, scratch: scratch, rng: &rng)
        convOut = PackedConv1d(name: "decoder.conv_out", inChannels: a.width, outChannels: a.inputChannels, kernelSize: 3,
                               padding: 1, scratch: scratch, rng: &rng)
    }

    var parameters: [Parameter] {
        convIn.parameters + zip(res, up).flatMap { r, u in r.flatMap(\.parameters) + u.parameters }
            + convMid.parameters + convOut.parameters
    }
    var convolutions: [PackedConv1d] {
        [convIn] + zip(res, up).flatMap { r, u in r.flatMap(\.convolutions) + [u] } + [convMid, convOut]
    }

    func forward(_ z: Tensor, _ s: PackedShape) -> Tensor {
        var h = reluIn.forward(convIn.forward(z, s))
        var time = s.time
        let width = convIn.outChannels
        for i in 0..<res.count {
            for b in res[i] { h = b.forward(h, PackedShape(channels: width, batch: s.batch, time: time)) }
            h = upsample[i].forward(h)
            time *= 2
            h = up[i].forward(h, PackedShape(channels: width, batch: s.batch, time: time))
        }
        let shape = PackedShape(channels: width, batch: s.batch, time: time)
        return convOut.forward(reluMid.forward(convMid.forward(h, shape)), shape)
    }

    /// Returns the gradient with respect to the decoder input (owned by a layer).
    func backward(_ dy: Tensor) -> Tensor {
        var g = convMid.backward(reluMid.backward(convOut.backward(dy)!))!
        for i in (0..<res.count).reversed() {
            g = upsample[i].backward(up[i].backward(g)!)
            for b in res[i].reversed() { g = b.backward(g) }
        }
        return convIn.backward(reluIn.backward(g))!
    }
}

/// Encoder, EMA quantizer and decoder, with their parameters in one store.
public final class VQVAENetwork {
    public let architecture: VQVAEArchitecture
    let scratch = PackedScratch()
    let encoder: VQVAEEncoder
    let decoder: VQVAEDecoder
    public let quantizer: EMAQuantizer
    /// The trainable convolution weights (the codebook is updated by EMA, not by gradients).
    public let store: ParameterStore

    public init(_ architecture: VQVAEArchitecture, rng: inout SeededRandom) {
        self.architecture = architecture
        var r = rng.derived("vqvae.init")
        encoder = VQVAEEncoder(architecture, scratch: scratch, rng: &r)
        decoder = VQVAEDecoder(architecture, scratch: scratch, rng: &r)
        quantizer = EMAQuantizer(codebookSize: architecture.codebookSize, dimension: architecture.codebookDim)
        store = ParameterStore(encoder.parameters + decoder.parameters)
    }

    /// The arithmetic of every convolution's products (``ProductPrecision``): `bfloat16` is
    /// mixed-precision training — float32 weights, activations and optimizer, bfloat16 products.
    public var precision: ProductPrecision = .float32 {
        didSet { for c in encoder.convolutions + decoder.convolutions { c.precision = precision } }
    }

    /// How the kernel-3 convolutions compute (``ConvolutionAlgorithm``).
    public var algorithm: ConvolutionAlgorithm = .direct {
        didSet { for c in encoder.convolutions + decoder.convolutions { c.algorithm = algorithm } }
    }

    /// The tensors of a saved model: parameters plus the quantizer's buffers.
    public var stateTensors: [String: Tensor] {
        var t = store.valuesByName
        for (k, v) in quantizer.buffers { t[k] = v }
        return t
    }

    /// Restores parameters and quantizer buffers from a safetensors file.
    public func loadState(from file: SafetensorsFile) throws {
        try store.load(from: file)
        try quantizer.load(from: file)
    }

    public func encode(_ x: Tensor, _ s: PackedShape) -> Tensor { encoder.forward(x, s) }
    public func decode(_ z: Tensor, _ s: PackedShape) -> Tensor { decoder.forward(z, s) }
    /// The gradient with respect to the decoder input.
    public func decoderBackward(_ dy: Tensor) -> Tensor { decoder.backward(dy) }
    public func encoderBackward(_ dz: Tensor) { encoder.backward(dz) }
}
