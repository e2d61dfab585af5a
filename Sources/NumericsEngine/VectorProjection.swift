import BiomechCore

/// Carries continuous vectors (a motion encoder's output) into a language model's input
/// embedding space, as vision-language models project image features: a linear map or a
/// two-layer MLP (`Linear → GELU(tanh) → Linear`, PyTorch's `nn.Sequential` names `0` and `2`).
///
/// Inputs are first standardised per dimension with fixed statistics of the training
/// vectors (`x̂ = (x − mean) · invStd`), so the encoder's arbitrary scale does not set the
/// learning dynamics. ``calibrate(on:rows:targetRMS:)`` then scales the last layer so the
/// projected training vectors start at the RMS of the model's own input embeddings: at
/// step 0 a motion vector looks, in magnitude, like a word.
///
/// Shapes: `forward` takes `[n, inputWidth]` and returns `[n, outputWidth]` (owned by the
/// projection, overwritten by the next call). `backward` accumulates parameter gradients
/// and returns dL/dx for the raw (unstandardised) input.
public final class VectorProjection {
    public let spec: VectorProjectionSpec
    public let inputWidth: Int
    public let outputWidth: Int
    public let hiddenWidth: Int
    /// Standardisation buffers (not trained), `[inputWidth]` each.
    public let inputMean: Tensor
    public let inputInverseStd: Tensor
    private let first: Linear
    private let activation: GELU?
    private let second: Linear?
    private var standardized: Tensor?
    private var gradInput: Tensor?

    public static let prefix = "motion_projection"

    public init(spec: VectorProjectionSpec, inputWidth: Int, outputWidth: Int, seed: UInt64) {
        self.spec = spec
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        var rng = SeededRandom(seed: seed).derived(Self.prefix)
        inputMean = Tensor(shape: [inputWidth], repeating: 0)
        inputInverseStd = Tensor(shape: [inputWidth], repeating: 1)
        switch spec.kind {
        case .linear:
            hiddenWidth = 0
            first = Linear(name: Self.prefix + ".0", inFeatures: inputWidth, outFeatures: outputWidth, rng: &rng)
            activation = nil; second = nil
        case .mlp:
            hiddenWidth = spec.hidden > 0 ? spec.hidden : outputWidth
            first = Linear(name: Self.prefix + ".0", inFeatures: inputWidth, outFeatures: hiddenWidth, rng: &rng)
            activation = GELU()
            second = Linear(name: Self.prefix + ".2", inFeatures: hiddenWidth, outFeatures: outputWidth, rng: &rng)
        }
    }

    /// The trainable weights and biases.
    public var parameters: [Parameter] { first.parameters + (second?.parameters ?? []) }

    /// Sets the standardisation from `rows × inputWidth` training vectors (a dimension with
    /// no spread keeps scale 1).
    public func setStandardization(from values: [Float], rows: Int) {
        precondition(values.count == rows * inputWidth, "VectorProjection: \(values.count) values for \(rows) rows of \(inputWidth)")
        guard rows > 0 else { return }
        for j in 0..<inputWidth {
            var sum = 0.0, square = 0.0
            for r in 0..<rows { let v = Double(values[r * inputWidth + j]); sum += v; square += v * v }
            let mean = sum / Double(rows)
            let variance = max(0, square / Double(rows) - mean * mean)
            inputMean.data[j] = Float(mean)
            inputInverseStd.data[j] = variance > 1e-12 ? Float(1 / variance.squareRoot()) : 1
        }
    }

    /// Scales the last layer (weights and bias) so the RMS of the projected `rows` vectors is
    /// `targetRMS`. Returns the RMS before scaling.
    @discardableResult
    public func calibrate(on values: [Float], rows: Int, targetRMS: Float) -> Float {
        guard rows > 0 else { return 0 }
        let y = forward(Tensor(shape: [rows, inputWidth], values: values))
        var square = 0.0
        for i in 0..<y.count { square += Double(y.data[i]) * Double(y.data[i]) }
        let rms = Float((square / Double(y.count)).squareRoot())
        guard rms > 0, targetRMS > 0 else { return rms }
        let last = second ?? first
        let factor = targetRMS / rms
        for p in last.parameters { for i in 0..<p.value.count { p.value.data[i] *= factor } }
        return rms
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.lastDimension == inputWidth, "VectorProjection: input \(x.shape), expected width \(inputWidth)")
        let rows = x.rowCount
        let s = Tensor.reuse(standardized, shape: [rows, inputWidth]); standardized = s
        for r in 0..<rows {
            let src = x.data + r * inputWidth, dst = s.data + r * inputWidth
            for j in 0..<inputWidth { dst[j] = (src[j] - inputMean.data[j]) * inputInverseStd.data[j] }
        }
        let h = first.forward(s)
        guard let activation, let second else { return h }
        return second.forward(activation.forward(h))
    }

    /// Accumulates parameter gradients; returns dL/dx of the raw input, `[n, inputWidth]`.
    @discardableResult
    public func backward(_ gradOutput: Tensor) -> Tensor {
        var g = gradOutput
        if let activation, let second {
            g = activation.backward(second.backward(g)!)
        }
        let ds = first.backward(g)!
        let dx = Tensor.reuse(gradInput, shape: ds.shape); gradInput = dx
        let rows = ds.rowCount
        for r in 0..<rows {
            for j in 0..<inputWidth { dx.data[r * inputWidth + j] = ds.data[r * inputWidth + j] * inputInverseStd.data[j] }
        }
        return dx
    }

    /// Weights, biases and standardisation buffers by name (for safetensors).
    public var stateTensors: [String: Tensor] {
        var out: [String: Tensor] = [Self.prefix + ".input_mean": inputMean, Self.prefix + ".input_inv_std": inputInverseStd]
        for p in parameters { out[p.name] = p.value }
        return out
    }

    /// Restores ``stateTensors``; a missing or misshapen tensor is an error naming `file`.
    public func load(_ tensors: [String: Tensor], file: String) throws {
        let targets = [(Self.prefix + ".input_mean", inputMean), (Self.prefix + ".input_inv_std", inputInverseStd)]
            + parameters.map { ($0.name, $0.value) }
        for (name, target) in targets {
            guard let t = tensors[name] else {
                throw InputError(file: file, field: name, "missing (the \(spec.kind.rawValue) motion projection needs it)")
            }
            guard t.shape == target.shape else {
                throw InputError(file: file, field: name, "has shape \(t.shape); this projection expects \(target.shape)")
            }
            target.copy(from: t)
        }
    }
}
