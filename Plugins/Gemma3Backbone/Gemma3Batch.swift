/// A batch of token sequences padded to one length, as the model's batched forward reads it.
///
/// Rows are flattened sequence-major: token `i` of the padded sequence `b` is row
/// `b · length + i`. Padding rows hold `padID`, are excluded as attention keys by the key
/// mask, and carry no meaning in the output.
///
/// - `.right` padding (the default; training): every sequence starts at row `b · length`
///   with position 0; pad rows follow the real tokens.
/// - `.left` padding (batched generation): pad rows come first and the real tokens end at
///   the last row, so the last position of every sequence is the same row; positions
///   still start at 0 on the first real token. Pad rows attend to nothing and output zeros
///   from attention.
public struct Gemma3Batch: Sendable, Equatable {
    public enum Padding: String, Sendable, Codable { case left, right }

    public let batchSize: Int
    /// The padded length `T`.
    public let length: Int
    public let padding: Padding
    /// The real length of each sequence.
    public let lengths: [Int]
    /// `batchSize · length` token ids (pads = `padID`).
    public let tokens: [Int]
    /// The RoPE position of each row (pads: 0).
    public let positions: [Int]
    /// True for real tokens; nil when no sequence is padded.
    public let keyMask: [Bool]?

    public init(_ sequences: [[Int]], padding: Padding = .right, padID: Int = 0) {
        precondition(!sequences.isEmpty, "Gemma3Batch: no sequences")
        let t = sequences.map(\.count).max() ?? 0
        precondition(t > 0, "Gemma3Batch: empty sequences only")
        batchSize = sequences.count
        length = t
        self.padding = padding
        lengths = sequences.map(\.count)
        var tokens = [Int](repeating: padID, count: sequences.count * t)
        var positions = [Int](repeating: 0, count: sequences.count * t)
        var mask = [Bool](repeating: false, count: sequences.count * t)
        for (b, s) in sequences.enumerated() {
            let offset = padding == .right ? 0 : t - s.count
            for (i, id) in s.enumerated() {
                let row = b * t + offset + i
                tokens[row] = id; positions[row] = i; mask[row] = true
            }
        }
        self.tokens = tokens
        self.positions = positions
        keyMask = lengths.allSatisfy { $0 == t } ? nil : mask
    }

    /// The row of token `index` (0-based in the unpadded sequence) of sequence `sequence`.
    public func row(sequence b: Int, index i: Int) -> Int {
        precondition(i >= 0 && i < lengths[b], "Gemma3Batch: token \(i) outside sequence \(b) of length \(lengths[b])")
        return b * length + (padding == .right ? 0 : length - lengths[b]) + i
    }

    /// The row of the last real token of each sequence.
    public var lastRows: [Int] { (0..<batchSize).map { row(sequence: $0, index: lengths[$0] - 1) } }
}
