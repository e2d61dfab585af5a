/// What a `MotionRepresentation` produces from a trial and a `Tokenizer` consumes:
/// frames × named channels of Float, row-major, with a mask of the channels that the
/// source actually observed (a channel the source lacks is present, zero, and unobserved).
public struct FeatureMatrix: Sendable, Equatable {
    public var channelNames: [String]
    public var observed: [Bool]
    public var frameRate: Double
    public var values: [Float]

    public var channelCount: Int { channelNames.count }
    public var frameCount: Int { channelNames.isEmpty ? 0 : values.count / channelNames.count }

    public init(channelNames: [String], observed: [Bool]? = nil, frameRate: Double, values: [Float]) {
        precondition(channelNames.isEmpty || values.count % channelNames.count == 0,
                     "FeatureMatrix values must fill whole frames")
        self.channelNames = channelNames
        self.observed = observed ?? Array(repeating: true, count: channelNames.count)
        self.frameRate = frameRate
        self.values = values
    }

    public subscript(frame: Int, channel: Int) -> Float {
        get { values[frame * channelCount + channel] }
        set { values[frame * channelCount + channel] = newValue }
    }

    /// Frames `range` as a new matrix (windows for tokenizer training).
    public func frames(_ range: Range<Int>) -> FeatureMatrix {
        let c = channelCount
        return FeatureMatrix(channelNames: channelNames, observed: observed, frameRate: frameRate,
                             values: Array(values[(range.lowerBound * c)..<(range.upperBound * c)]))
    }
}

/// A trial's motion as the language model sees it.
public enum MotionEncoding: Sendable, Equatable {
    /// Discrete codebook indices, one per `framesPerStep` frames (the paper's motion tokens).
    case tokens([Int])
    /// Continuous vectors, `count` rows of `width`, row-major (the continuous-encoder baseline).
    case vectors(count: Int, width: Int, values: [Float])

    public var stepCount: Int {
        switch self {
        case .tokens(let t): return t.count
        case .vectors(let n, _, _): return n
        }
    }
}
