import GGUF
import NumericsEngine

/// Adapters attach to the Gemma 3 backbone: its projections by PEFT name, its parameters,
/// and the embedding rows added by `extendVocabulary(with:)` (trained with the adapter).
extension Gemma3LanguageBackbone: AdaptableModel, GGUFBackedModel {
    public var addedTokenRows: (embedding: Parameter, rows: Range<Int>)? {
        let m = model
        guard m.vocabularySize > m.baseVocabularySize else { return nil }
        return (m.embeddingWeight, m.baseVocabularySize..<m.vocabularySize)
    }
}
