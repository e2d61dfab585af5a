import Foundation

/// Text ↔ token ids for a backbone.
public protocol TextTokenizer: AnyObject {
    var vocabularySize: Int { get }
    var bosID: Int { get }
    var eosID: Int { get }
    /// Encodes text. Special and added tokens written literally (`<start_of_turn>`,
    /// `<motion_17>`) are matched as whole pieces.
    func encode(_ text: String, addBOS: Bool) -> [Int]
    func decode(_ ids: [Int]) -> String
    /// The id of a whole piece (a special or added token), if it exists.
    func id(ofPiece piece: String) -> Int?
}

/// One turn of a conversation.
public struct ChatTurn: Sendable, Codable, Equatable {
    public enum Role: String, Sendable, Codable { case system, user, model }
    public var role: Role
    public var text: String
    public init(_ role: Role, _ text: String) { self.role = role; self.text = text }
}

/// Sampling settings for generation. `temperature == 0` is greedy.
public struct GenerationOptions: Sendable, Codable, Equatable {
    public var maxNewTokens: Int = 32
    public var temperature: Double = 0
    public var topK: Int = 0
    public var topP: Double = 1
    public var seed: UInt64 = 0
    public init(maxNewTokens: Int = 32, temperature: Double = 0, topK: Int = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.maxNewTokens = maxNewTokens; self.temperature = temperature
        self.topK = topK; self.topP = topP; self.seed = seed
    }
}

/// A prompt as the backbone consumes it: token ids, plus — for continuous motion
/// encodings — vectors that replace the embeddings at given positions.
public struct BackboneInput: Sendable {
    public var tokens: [Int]
    /// Positions in `tokens` whose embedding is replaced by a row of `vectors`.
    public var vectorPositions: [Int]
    /// Row-major `vectorPositions.count × vectorWidth` (already in embedding space).
    public var vectors: [Float]
    public init(tokens: [Int], vectorPositions: [Int] = [], vectors: [Float] = []) {
        self.tokens = tokens; self.vectorPositions = vectorPositions; self.vectors = vectors
    }
}

/// A causal language model that reads text and motion and writes text.
///
/// Contract:
/// - Loads its weights at construction (from the recipe's model path); a missing model
///   file is an `InputError` that says how to get it.
/// - `chatPrompt` renders turns with the model's chat template, ending with the model's
///   turn opened when `openModelTurn` is true.
/// - `extendVocabulary(with:)` adds new whole-piece tokens (motion tokens and their
///   delimiters) as new embedding rows and returns their ids; the implementation documents
///   the initialisation of the new rows. Added rows are saved with the adapter.
/// - `logits(for:)` returns next-token logits at the last position (vocabulary incl. added
///   tokens). `generate` streams tokens to `onToken` (return false to stop) and stops at
///   end of turn / end of sequence or `maxNewTokens`.
/// - Throws `InputError` for a sequence longer than `contextLength`, naming the length.
public protocol LanguageBackbone: AnyObject {
    var textTokenizer: any TextTokenizer { get }
    var vocabularySize: Int { get }
    var embeddingWidth: Int { get }
    var contextLength: Int { get }
    func chatPrompt(_ turns: [ChatTurn], openModelTurn: Bool) -> String
    func extendVocabulary(with pieces: [String]) throws -> Range<Int>
    func logits(for input: BackboneInput) throws -> [Float]
    func generate(_ input: BackboneInput, options: GenerationOptions,
                  onToken: (Int) -> Bool) throws -> [Int]
}
