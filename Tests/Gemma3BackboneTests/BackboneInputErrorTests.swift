import BiomechCore
import Testing
@testable import Gemma3Backbone

@Suite struct BackboneInputErrorTests {
    @Test func badInputsAreInputErrorsNotTraps() throws {
        let b = try Gemma3LanguageBackbone(preset: "tiny", tokenizer: Gemma3TextTokenizer.byteLevel(), contextLength: 16)
        let v = b.vocabularySize, d = b.embeddingWidth
        func field(_ body: () throws -> Void) -> String? { (#expect(throws: InputError.self) { try body() })?.field }
        #expect(field { _ = try b.logits(for: BackboneInput(tokens: [1, v])) } == "tokens")
        #expect(field { _ = try b.logits(for: BackboneInput(tokens: Array(repeating: 1, count: 17))) } == "context_length")
        #expect(field { _ = try b.logits(for: BackboneInput(tokens: [1, 2], vectorPositions: [2], vectors: .init(repeating: 0, count: d))) }
            == "vectorPositions")
        #expect(field { _ = try b.trainingStep(tokens: [[1, 2, 3]], lossMask: [[true, true]], gradScale: 1) } == "lossMask")
        #expect(field { _ = try b.evaluationLoss(tokens: [[1, 2], []], lossMask: [[true, true], []]) } == "lossMask")
        #expect(field { _ = try b.generate(BackboneInput(tokens: [-1]), options: .init(maxNewTokens: 2)) { _ in true } } == "tokens")
    }
}
