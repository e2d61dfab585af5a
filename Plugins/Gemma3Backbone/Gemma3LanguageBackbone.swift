import BiomechCore
import Foundation
import GGUF
import NumericsEngine

/// The text tokenizer as the `TextTokenizer` protocol sees it (a reference that
/// ``Gemma3LanguageBackbone/extendVocabulary(with:)`` updates).
public final class Gemma3TokenizerReference: TextTokenizer {
    public private(set) var tokenizer: Gemma3TextTokenizer
    public init(_ tokenizer: Gemma3TextTokenizer) { self.tokenizer = tokenizer }
    public var vocabularySize: Int { tokenizer.vocabularySize }
    public var bosID: Int { tokenizer.bosID }
    public var eosID: Int { tokenizer.eosID }
    public func encode(_ text: String, addBOS: Bool) -> [Int] { tokenizer.encode(text, addBOS: addBOS) }
    public func decode(_ ids: [Int]) -> String { tokenizer.decode(ids) }
    public func id(ofPiece piece: String) -> Int? { tokenizer.id(for: piece) }
    func extend(with names: [String]) throws -> Range<Int> { try tokenizer.extendVocabulary(with: names) }
}

/// The `gemma3` backbone plugin: Gemma 3 weights (GGUF, or a Hugging Face directory with
/// `config.json` and safetensors) or a randomly initialised configuration, with its
/// tokenizer, chat template, vocabulary extension, generation and training step.
public final class Gemma3LanguageBackbone: LanguageBackbone, TrainableLanguageModel, GenerateThenScoreModel {
    public static let descriptor = PluginDescriptor(
        id: "gemma3", kind: .backbone,
        summary: "Gemma 3 text model (GGUF or safetensors weights, or a random configuration) with KV-cache generation and a training step",
        parameters: [
            ParameterSpec("model", "string", default: ModelLocator.defaultRelativePath,
                          "GGUF file or Hugging Face model directory ($BIOMECHGPT_MODEL overrides the default)"),
            ParameterSpec("config", "file|tiny|small", default: "file",
                          "'file': the model's own configuration; 'tiny'/'small': random weights of that size (tests, demos)"),
            ParameterSpec("vocabulary", "file|byte-level", default: "file",
                          "with a random 'config': 'file' takes the model file's tokenizer when there is one, " +
                          "'byte-level' the 357-token stand-in (fast wiring checks)"),
            ParameterSpec("seed", "int", default: "0", "seed of random weights and of new embedding rows"),
            ParameterSpec("context_length", "int", default: "1024", "the longest sequence accepted (prompt plus generated tokens)"),
            ParameterSpec("threads", "int", default: "0", "threads for BLAS and kernels (0: leave the current setting)"),
            ParameterSpec("projection_precision", "float32|bfloat16", default: "float32",
                          "arithmetic of the projections' multi-row forward products (prefill, evaluation, training forward); " +
                          "bfloat16 is faster and inexact (docs/gemma3.md)"),
        ])

    public static func make(_ parameters: PluginParameters) throws -> Gemma3LanguageBackbone {
        let env = ProcessInfo.processInfo.environment
        var modelPath = try parameters.optionalString("model")
        if modelPath == nil, let e = env[ModelLocator.environmentVariable], !e.isEmpty { modelPath = e }
        let config = try parameters.choice("config", from: ["file", "tiny", "small"], default: "file")
        let vocabulary = try parameters.choice("vocabulary", from: ["file", "byte-level"], default: "file")
        if vocabulary == "byte-level" && config == "file" {
            throw InputError(field: "backbone.vocabulary", "'byte-level' needs a random configuration ('config: tiny' or 'small'); "
                             + "a model file brings its own vocabulary")
        }
        let seed = try parameters.seed(default: 0)
        let context = try parameters.positiveInt("context_length", default: 1024)
        let threads = try parameters.int("threads", default: 0)
        if threads > 0 { Threads.setCount(threads) }
        let precision = ProductPrecision(rawValue: try parameters.choice("projection_precision",
                                                                         from: ProductPrecision.allCases.map(\.rawValue),
                                                                         default: "float32"))!
        let backbone = try load(parameters, modelPath: modelPath, config: config, byteLevel: vocabulary == "byte-level",
                                seed: seed, context: context)
        backbone.model.projectionPrecision = precision
        return backbone
    }

    private static func load(_ parameters: PluginParameters, modelPath: String?, config: String, byteLevel: Bool, seed: UInt64,
                             context: Int) throws -> Gemma3LanguageBackbone {
        let locate = { try ModelLocator.locate(environment: modelPath.map { [ModelLocator.environmentVariable: $0] } ?? [:]) }
        // An adapter that quantizes the projections may build them as they load
        // (``ProjectionBuilding``), so the model is never whole in Float32.
        let builder = ProjectionBuilding.current
        if config == "file" {
            return try Gemma3LanguageBackbone(modelAt: try locate(), contextLength: context, seed: seed, projectionBuilder: builder)
        }
        // A random configuration takes the model file's tokenizer when there is one, and a
        // byte-level tokenizer otherwise (so it needs no file at all) or when asked for.
        let file = byteLevel ? nil : try? locate()
        let tokenizer = try file.map { try Gemma3TextTokenizer(gguf: GGUFFile(url: $0)) } ?? Gemma3TextTokenizer.byteLevel()
        return try Gemma3LanguageBackbone(preset: config, tokenizer: tokenizer, contextLength: context, seed: seed,
                                          projectionBuilder: builder)
    }

    public let model: Gemma3Model
    public let tokenizerReference: Gemma3TokenizerReference
    public let contextLength: Int
    public let seed: UInt64
    /// The GGUF file the weights were loaded from (nil for safetensors or random weights);
    /// QLoRA's `gguf` mode keeps the base in this file's blocks.
    public private(set) var ggufFile: GGUFFile?
    public let generator: Gemma3Generator
    public let continuationScorer: Gemma3ContinuationScorer
    /// Ids that end generation: `<end_of_turn>` and the end-of-sequence ids.
    public var stopTokens: Set<Int>

    public init(model: Gemma3Model, tokenizer: Gemma3TextTokenizer, contextLength: Int = 1024, seed: UInt64 = 0) throws {
        guard tokenizer.vocabularySize == model.vocabularySize else {
            throw InputError(field: "vocabulary", "the tokenizer has \(tokenizer.vocabularySize) tokens; the model's embedding has \(model.vocabularySize) rows")
        }
        self.model = model
        tokenizerReference = Gemma3TokenizerReference(tokenizer)
        self.contextLength = contextLength
        self.seed = seed
        generator = Gemma3Generator(model: model)
        continuationScorer = Gemma3ContinuationScorer(model: model)
        var stops = Set(model.configuration.eosTokenIDs)
        stops.insert(tokenizer.eosID)
        if let e = tokenizer.endOfTurnID { stops.insert(e) }
        stopTokens = stops
    }

    /// A model file: a `.gguf` file, or a directory with `config.json`, the tokenizer in a
    /// `.gguf` file beside it being unsupported (the GGUF tokenizer is the one implemented).
    /// `projectionBuilder`: see ``Gemma3Model/init(configuration:weights:projectionBuilder:)``.
    public convenience init(modelAt url: URL, contextLength: Int = 1024, seed: UInt64 = 0,
                            projectionBuilder: ProjectionBuilder? = nil) throws {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            let config = try Gemma3Configuration.load(configJSON: url.appendingPathComponent("config.json"))
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            guard let ggufName = names.first(where: { $0.hasSuffix(".gguf") }) else {
                throw InputError(file: url.path, "a safetensors model directory needs a .gguf file beside config.json for the tokenizer")
            }
            let tokenizer = try Gemma3TextTokenizer(gguf: GGUFFile(url: url.appendingPathComponent(ggufName)))
            let model = try Gemma3Model(configuration: config, weights: SafetensorsWeights(directory: url),
                                        projectionBuilder: projectionBuilder)
            try self.init(model: model, tokenizer: tokenizer, contextLength: contextLength, seed: seed)
        } else {
            let file = try GGUFFile(url: url)
            let model = try Gemma3Model(configuration: Gemma3Configuration(gguf: file), weights: GGUFWeights(file: file),
                                        projectionBuilder: projectionBuilder)
            try self.init(model: model, tokenizer: Gemma3TextTokenizer(gguf: file), contextLength: contextLength, seed: seed)
            ggufFile = file
        }
    }

    /// Random weights of a named size (``Gemma3Configuration/preset(_:)``) over a tokenizer's vocabulary.
    public convenience init(preset: String, tokenizer: Gemma3TextTokenizer, contextLength: Int = 1024, seed: UInt64 = 0,
                            projectionBuilder: ProjectionBuilder? = nil) throws {
        guard var config = Gemma3Configuration.preset(preset) else {
            throw InputError(field: "config", "unknown configuration '\(preset)'", allowed: Gemma3Configuration.presetNames)
        }
        config.vocabularySize = tokenizer.vocabularySize
        let model = try Gemma3Model(configuration: config, weights: RandomWeights(seed: seed), projectionBuilder: projectionBuilder)
        try self.init(model: model, tokenizer: tokenizer, contextLength: contextLength, seed: seed)
    }

    // MARK: LanguageBackbone

    public var textTokenizer: any TextTokenizer { tokenizerReference }
    public var tokenizer: Gemma3TextTokenizer { tokenizerReference.tokenizer }
    public var vocabularySize: Int { model.vocabularySize }
    public var embeddingWidth: Int { model.hiddenSize }

    public func chatPrompt(_ turns: [ChatTurn], openModelTurn: Bool) -> String {
        Self.chatPrompt(turns, openModelTurn: openModelTurn)
    }

    /// The chat template needs no weights, so tools that only render prompts (the `qa`
    /// stage) use this without loading the model.
    public static func chatPrompt(_ turns: [ChatTurn], openModelTurn: Bool) -> String {
        let messages = turns.map { t -> Gemma3ChatTemplate.Message in
            switch t.role {
            case .system: return .system(t.text)
            case .user: return .user(t.text)
            case .model: return .model(t.text)
            }
        }
        if let s = try? Gemma3ChatTemplate.render(messages, addGenerationPrompt: openModelTurn) { return s }
        // Roles that do not alternate: each turn written as it comes.
        var out = Gemma3ChatTemplate.bos
        for m in messages {
            let role = m.role == .model ? "model" : "user"
            out += Gemma3ChatTemplate.startOfTurn + role + "\n" + m.content.trimmingWhitespace() + Gemma3ChatTemplate.endOfTurn + "\n"
        }
        if openModelTurn { out += Gemma3ChatTemplate.startOfTurn + "model\n" }
        return out
    }

    /// Adds whole-piece tokens to the tokenizer and rows to the embedding / tied LM head.
    /// New rows start at the mean of the existing rows plus seeded noise (see docs/gemma3.md).
    public func extendVocabulary(with pieces: [String]) throws -> Range<Int> {
        let ids = try tokenizerReference.extend(with: pieces)
        let rows = model.extendVocabulary(by: pieces.count, seed: seed)
        precondition(ids == rows, "tokenizer ids \(ids) and embedding rows \(rows) disagree")
        return ids
    }

    private func check(_ count: Int) throws {
        guard count <= contextLength else {
            throw InputError(field: "context_length",
                             "a sequence of \(count) tokens is longer than the context length \(contextLength)")
        }
    }

    /// A training batch the model can run: sequences within the context, non-empty, one
    /// mask entry per token, token ids inside the vocabulary.
    private func check(_ tokens: [[Int]], _ lossMask: [[Bool]]) throws {
        guard !tokens.isEmpty, tokens.count == lossMask.count else {
            throw InputError(field: "lossMask", "\(tokens.count) sequences with \(lossMask.count) loss masks")
        }
        for (b, s) in tokens.enumerated() {
            try check(s.count)
            guard !s.isEmpty, lossMask[b].count == s.count else {
                throw InputError(field: "lossMask", "sequence \(b) has \(s.count) tokens and \(lossMask[b].count) mask entries")
            }
            if let bad = s.first(where: { $0 < 0 || $0 >= vocabularySize }) {
                throw InputError(field: "tokens", "token id \(bad) in sequence \(b) is outside the vocabulary 0..<\(vocabularySize)")
            }
        }
    }

    private func vectors(_ input: BackboneInput) throws -> Gemma3InputVectors? {
        guard !input.vectorPositions.isEmpty else { return nil }
        let d = model.hiddenSize
        guard input.vectors.count == input.vectorPositions.count * d else {
            throw InputError(field: "vectors", "\(input.vectors.count) values for \(input.vectorPositions.count) positions of width \(d)")
        }
        if let bad = input.vectorPositions.first(where: { $0 < 0 || $0 >= input.tokens.count }) {
            throw InputError(field: "vectorPositions", "position \(bad) is outside the \(input.tokens.count) prompt tokens")
        }
        return Gemma3InputVectors(rows: input.vectorPositions, values: Tensor(shape: [input.vectorPositions.count, d], values: input.vectors))
    }

    public func logits(for input: BackboneInput) throws -> [Float] {
        try check([input.tokens], [input.tokens.map { _ in false }])
        let batch = Gemma3Batch([input.tokens], padID: model.configuration.padTokenID)
        return model.nextTokenLogits(batch, vectors: try vectors(input)).scalars
    }

    public func generate(_ input: BackboneInput, options: GenerationOptions, onToken: (Int) -> Bool) throws -> [Int] {
        try checkGeneration(input, options)
        return generator.generate(prompt: input.tokens, options: options, stopTokens: stopTokens,
                                  vectors: try vectors(input), onToken: onToken)
    }

    // MARK: Training (TrainableLanguageModel)

    public var projectionNames: [String] { model.projectionNames }
    public func projection(named name: String) -> (any Projection)? { model.projection(named: name) }
    public func replaceProjection(_ name: String, with replacement: any Projection) throws {
        try model.replaceProjection(name, with: replacement)
    }
    public var parameters: [Parameter] { model.parameters }
    public var trainableParameters: [Parameter] { model.trainableParameters }
    public func setTrainableEmbeddingRows(_ rows: Range<Int>) { model.setTrainableEmbeddingRows(rows) }

    public func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float = 1) throws -> (loss: Double, tokenCount: Int) {
        try check(tokens, lossMask)
        return model.trainingStep(tokens: tokens, lossMask: lossMask, gradScale: gradScale)
    }

    public func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]]) throws -> (loss: Double, tokenCount: Int) {
        try check(tokens, lossMask)
        return model.loss(tokens: tokens, lossMask: lossMask)
    }

    public func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float, vectors: InputVectorRows?) throws
        -> (loss: Double, tokenCount: Int) {
        try check(tokens, lossMask)
        return model.trainingStep(tokens: tokens, lossMask: lossMask, gradScale: gradScale,
                                  vectors: try batchVectors(vectors, tokens: tokens))
    }

    public func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]], vectors: InputVectorRows?) throws -> (loss: Double, tokenCount: Int) {
        try check(tokens, lossMask)
        return model.loss(tokens: tokens, lossMask: lossMask, vectors: try batchVectors(vectors, tokens: tokens))
    }

    /// One batched forward for all sequences (the protocol's default runs one at a time).
    public func sequenceLosses(tokens: [[Int]], lossMask: [[Bool]], vectors: InputVectorRows?) throws -> [Double] {
        try check(tokens, lossMask)
        return model.sequenceLosses(tokens: tokens, lossMask: lossMask, vectors: try batchVectors(vectors, tokens: tokens))
    }

    public var inputVectorGradient: Tensor? { model.inputVectorGradient }

    // MARK: Answer scoring (ContinuationScoringModel)

    public func continuationLosses(prefix: [Int], continuations: [[Int]], prefixVectors: InputVectorRows?) throws -> [Double] {
        guard !continuations.isEmpty else { return [] }
        try checkScoring(prefix: prefix, continuations: continuations)
        if let v = prefixVectors, v.sequences.contains(where: { $0 != 0 }) {
            throw InputError(field: "vectors", "prefix vectors must all belong to sequence 0")
        }
        return continuationScorer.losses(prefix: prefix, continuations: continuations,
                                         vectors: try batchVectors(prefixVectors, tokens: [prefix]))
    }

    /// Generation, then the continuations scored from the generator's cache rewound to the
    /// prompt and its last state: only the continuations' nodes run. When the generation
    /// kept no prompt (no new token asked for) or wrote more positions than a rewind allows,
    /// the continuations are scored from scratch instead.
    public func generateThenScore(_ input: BackboneInput, options: GenerationOptions, continuations: [[Int]],
                                  onToken: (Int) -> Bool) throws -> (generated: [Int], losses: [Double]) {
        try checkGeneration(input, options)
        guard !continuations.isEmpty else { return (try generate(input, options: options, onToken: onToken), []) }
        try checkScoring(prefix: input.tokens, continuations: continuations)
        let vectors = try vectors(input)
        let longest = continuations.map(\.count).max()!
        let generated = generator.generate(prompt: input.tokens, options: options, stopTokens: stopTokens, vectors: vectors,
                                           reservingPositions: longest, onToken: onToken)
        if let cache = generator.cache, !generator.promptLastState.isEmpty,
           generated.count <= cache.chunk, longest <= cache.chunk {
            cache.rewind(to: input.tokens.count)
            return (generated, continuationScorer.losses(continuations: continuations, afterPrefixOf: input.tokens.count,
                                                         lastState: generator.promptLastState, cache: cache))
        }
        return (generated, continuationScorer.losses(prefix: input.tokens, continuations: continuations, vectors: vectors))
    }

    /// A prompt the model can read, with room in the context for the new tokens asked for.
    private func checkGeneration(_ input: BackboneInput, _ options: GenerationOptions) throws {
        try check([input.tokens], [input.tokens.map { _ in false }])
        guard options.maxNewTokens >= 0, options.maxNewTokens <= contextLength - input.tokens.count else {
            throw InputError(field: "max_new_tokens", "\(options.maxNewTokens) new tokens after a prompt of \(input.tokens.count) "
                             + "do not fit the context length \(contextLength) (at most \(contextLength - input.tokens.count))")
        }
    }

    /// A prefix and continuations the scorer can take: non-empty, within the context
    /// together, token ids inside the vocabulary.
    private func checkScoring(prefix: [Int], continuations: [[Int]]) throws {
        guard !prefix.isEmpty, continuations.allSatisfy({ !$0.isEmpty }) else {
            throw InputError(field: "continuations", "scoring needs a non-empty prefix and non-empty continuations")
        }
        try check(prefix.count + (continuations.map(\.count).max() ?? 0))
        if let bad = (prefix + continuations.joined()).first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw InputError(field: "tokens", "token id \(bad) is outside the vocabulary 0..<\(vocabularySize)")
        }
    }

    /// RMS of the scaled embeddings of the original vocabulary (sampled every 97th row).
    public var inputEmbeddingRMS: Float {
        let e = model.embeddingWeight.value, d = model.hiddenSize
        var square = 0.0, count = 0
        for r in stride(from: 0, to: model.baseVocabularySize, by: 97) {
            for j in 0..<d { let v = Double(e.data[r * d + j]); square += v * v }
            count += d
        }
        return Float((square / Double(max(1, count))).squareRoot()) * Gemma3Model.embeddingScale(model.configuration)
    }

    /// Sequence-relative vector rows as rows of the right-padded batch the model builds.
    private func batchVectors(_ vectors: InputVectorRows?, tokens: [[Int]]) throws -> Gemma3InputVectors? {
        guard let vectors, vectors.count > 0 else { return nil }
        guard vectors.values.lastDimension == model.hiddenSize else {
            throw InputError(field: "vectors", "input vectors have width \(vectors.values.lastDimension); the model's hidden size is \(model.hiddenSize)")
        }
        let length = tokens.map(\.count).max() ?? 0
        var rows: [Int] = []
        rows.reserveCapacity(vectors.count)
        for (b, i) in zip(vectors.sequences, vectors.indices) {
            guard b >= 0, b < tokens.count, i >= 0, i < tokens[b].count else {
                throw InputError(field: "vectors", "vector for token \(i) of sequence \(b) is outside the batch")
            }
            rows.append(b * length + i)
        }
        return Gemma3InputVectors(rows: rows, values: vectors.values)
    }
}

extension Gemma3Configuration {
    public static let presetNames = ["tiny", "small"]

    /// Small Gemma 3 shapes for random-weight tests and demos (vocabulary: the tokenizer's).
    /// `tiny`: hidden 64, 2 layers (the second global), 2 query heads / 1 KV head of 32,
    /// MLP 128, window 16. `small`: hidden 256, 6 layers (the sixth global), 4 / 1 heads of
    /// 64, MLP 1024, window 128.
    public static func preset(_ name: String) -> Gemma3Configuration? {
        var c = Gemma3Configuration()
        switch name {
        case "tiny":
            c.hiddenSize = 64; c.layerCount = 2; c.headCount = 2; c.kvHeadCount = 1; c.headDimension = 32
            c.intermediateSize = 128; c.slidingWindow = 16; c.slidingWindowPattern = 2
        case "small":
            c.hiddenSize = 256; c.layerCount = 6; c.headCount = 4; c.kvHeadCount = 1; c.headDimension = 64
            c.intermediateSize = 1024; c.slidingWindow = 128; c.slidingWindowPattern = 6
        default:
            return nil
        }
        c.queryPreAttentionScalar = Double(c.headDimension)
        c.layerTypes = layerTypes(count: c.layerCount, pattern: c.slidingWindowPattern)
        return c
    }
}

extension Gemma3TextTokenizer {
    /// A small stand-in vocabulary for random-weight models when no model file is at hand:
    /// `<pad>` 0, `<eos>` 1, `<bos>` 2, `<unk>` 3, `<start_of_turn>` 4, `<end_of_turn>` 5,
    /// the 256 byte pieces, `▁` and the printable ASCII characters (357 tokens). Text is
    /// split into characters; anything else falls back to its UTF-8 bytes.
    public static func byteLevel() throws -> Gemma3TextTokenizer {
        var tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
        var types = [TokenType](repeating: .control, count: tokens.count)
        for b in 0..<256 { tokens.append(bytePiece(UInt8(b))); types.append(.byte) }
        tokens.append(String(spaceSymbol)); types.append(.normal)
        for c in 0x21...0x7E { tokens.append(String(UnicodeScalar(UInt8(c)))); types.append(.normal) }
        return try Gemma3TextTokenizer(tokens: tokens, types: types, bosID: 2, eosID: 1, padID: 0, unknownID: 3)
    }
}
