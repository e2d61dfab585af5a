import BiomechCore
@testable import ClinicalTasks
import Foundation
import NumericsEngine
@testable import FineTuning

/// A character tokenizer with whole-piece special tokens: ids 0..<128 are ASCII, then the
/// special pieces, then `<motion_0>`…`<motion_{n-1}>`.
final class ToyTokenizer: TextTokenizer {
    let specials = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", MotionText.start, MotionText.end]
    let motionTokens: Int
    init(motionTokens: Int = 8) { self.motionTokens = motionTokens }
    var pieces: [String] { specials + (0..<motionTokens).map(MotionText.tokenPiece) }
    var vocabularySize: Int { 128 + pieces.count }
    var bosID: Int { 128 + 2 }
    var eosID: Int { 128 + 1 }
    func id(ofPiece piece: String) -> Int? { pieces.firstIndex(of: piece).map { 128 + $0 } }
    func encode(_ text: String, addBOS: Bool) -> [Int] {
        var out = addBOS ? [bosID] : []
        var rest = Substring(text)
        outer: while !rest.isEmpty {
            if rest.first == "<" {
                for (i, p) in pieces.enumerated() where rest.hasPrefix(p) {
                    out.append(128 + i); rest = rest.dropFirst(p.count); continue outer
                }
            }
            out.append(Int(rest.unicodeScalars.first!.value) % 128)
            rest = rest.dropFirst()
        }
        return out
    }
    func decode(_ ids: [Int]) -> String {
        ids.map { $0 < 128 ? String(UnicodeScalar(UInt8($0))) : pieces[$0 - 128] }.joined()
    }
}

/// A tiny "language model": each position predicts the next token from its own embedding
/// through two projections and the tied embedding table (a bigram model), adaptable by name.
final class ToyLanguageModel: AdaptableModel, TrainableLanguageModel, LanguageBackbone {
    let tokenizerObject: ToyTokenizer
    let embedding: Embedding
    var up: any Projection
    var down: any Projection
    let added: Range<Int>
    let crossEntropy = ChunkedCrossEntropy(chunkSize: 64)

    init(seed: UInt64 = 1, hidden: Int = 8) {
        tokenizerObject = ToyTokenizer()
        var rng = SeededRandom(seed: seed)
        let v = tokenizerObject.vocabularySize
        embedding = Embedding(weight: Parameter(name: "model.embed_tokens.weight",
                                                value: .randomNormal(shape: [v, hidden], std: 0.5, using: &rng)))
        up = Linear(name: "model.layers.0.mlp.up_proj", inFeatures: hidden, outFeatures: 2 * hidden, bias: false, rng: &rng)
        down = Linear(name: "model.layers.0.mlp.down_proj", inFeatures: 2 * hidden, outFeatures: hidden, bias: false, rng: &rng)
        let motionStart = tokenizerObject.id(ofPiece: MotionText.start)!
        added = motionStart..<v
    }

    // AdaptableModel
    var projectionNames: [String] { ["model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj"] }
    func projection(named name: String) -> (any Projection)? {
        name == projectionNames[0] ? up : name == projectionNames[1] ? down : nil
    }
    func replaceProjection(_ name: String, with projection: any Projection) throws {
        if name == projectionNames[0] { up = projection } else if name == projectionNames[1] { down = projection } else {
            throw InputError(field: name, "no such projection")
        }
    }
    var addedTokenRows: (embedding: Parameter, rows: Range<Int>)? { (embedding.weight, added) }
    var parameters: [Parameter] { [embedding.weight] + up.parameters + down.parameters }
    var trainableParameters: [Parameter] { parameters.filter(\.isTrainable) }
    func setTrainableEmbeddingRows(_ rows: Range<Int>) { embedding.weight.setTrainableRows(rows) }

    // FineTunableModel
    private func flatten(_ tokens: [[Int]], _ mask: [[Bool]]) -> ([Int], [Int]) {
        var ids: [Int] = [], targets: [Int] = []
        for (s, m) in zip(tokens, mask) {
            for i in s.indices {
                ids.append(s[i])
                targets.append(i + 1 < s.count && m[i + 1] ? s[i + 1] : -1)
            }
        }
        return (ids, targets)
    }

    private func hidden(_ ids: [Int]) -> Tensor { down.forward(up.forward(embedding.forward(ids: ids))) }

    func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float) throws -> (loss: Double, tokenCount: Int) {
        let (ids, targets) = flatten(tokens, lossMask)
        let h = hidden(ids)
        let (loss, dh) = crossEntropy.lossAndGradient(hidden: h, weight: embedding.weight, targets: targets, gradScale: gradScale)
        let n = crossEntropy.countedPositions
        if let d1 = down.backward(dh), let d0 = up.backward(d1) { embedding.backward(d0) }
        return (Double(loss), n)
    }

    func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]]) throws -> (loss: Double, tokenCount: Int) {
        let (ids, targets) = flatten(tokens, lossMask)
        let loss = crossEntropy.loss(hidden: hidden(ids), weight: embedding.weight.value, targets: targets)
        return (Double(loss), crossEntropy.countedPositions)
    }

    // LanguageBackbone (greedy generation only)
    var textTokenizer: any TextTokenizer { tokenizerObject }
    var vocabularySize: Int { tokenizerObject.vocabularySize }
    var embeddingWidth: Int { embedding.dimension }
    var contextLength: Int { 4096 }
    func chatPrompt(_ turns: [ChatTurn], openModelTurn: Bool) -> String { ChatTemplates.gemma(turns, openModelTurn) }
    func extendVocabulary(with pieces: [String]) throws -> Range<Int> { added }
    func logits(for input: BackboneInput) throws -> [Float] {
        let h = hidden([input.tokens.last!])
        let v = vocabularySize, d = embedding.dimension
        return (0..<v).map { r in (0..<d).reduce(Float(0)) { $0 + h.data[$1] * embedding.weight.value.data[r * d + $1] } }
    }
    func generate(_ input: BackboneInput, options: GenerationOptions, onToken: (Int) -> Bool) throws -> [Int] {
        var tokens = input.tokens, out: [Int] = []
        let end = tokenizerObject.id(ofPiece: "<end_of_turn>")!
        for _ in 0..<options.maxNewTokens {
            let l = try logits(for: BackboneInput(tokens: tokens))
            let next = l.indices.max { l[$0] < l[$1] }!
            out.append(next); tokens.append(next)
            if !onToken(next) || next == end || next == tokenizerObject.eosID { break }
        }
        return out
    }
}

/// QA records in the QA builder's format, for a toy classification task.
func toyRecords(_ n: Int, split: SplitSide = .train, motionLength: Int = 6, seed: UInt64 = 3) -> [QARecord] {
    var rng = SeededRandom(seed: seed)
    return (0..<n).map { i in
        let label = i % 2 == 0 ? "yes" : "no"
        let motion = MotionText.start + (0..<motionLength).map { _ in MotionText.tokenPiece(rng.nextInt(below: 8)) }.joined() + MotionText.end
        let prompt = ChatTemplates.gemma([ChatTurn(.user, "Is this gait impaired? \(motion)")], true)
        let text = ChatTemplates.gemma([ChatTurn(.user, "Is this gait impaired? \(motion)"), ChatTurn(.model, label)], false)
        return QARecord(id: "r\(i)", trialID: "t\(i)", participantID: "p\(i / 2)", split: split, task: "impaired",
                        prompt: prompt, answer: label, target: .category(label), text: text)
    }
}

func temporaryDirectory(_ label: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fine-tuning-tests-\(label)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

