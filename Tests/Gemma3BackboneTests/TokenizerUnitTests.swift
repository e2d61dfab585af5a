import BiomechCore
import Foundation
import Testing
@testable import Gemma3Backbone

/// A tiny vocabulary, so the algorithm is tested without the model file.
func tinyTokenizer() throws -> Gemma3TextTokenizer {
    typealias T = Gemma3TextTokenizer.TokenType
    var tokens: [String] = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "\n", "  ", "   "]
    var types: [T] = [.control, .control, .control, .control, .control, .control, .userDefined, .userDefined, .userDefined]
    for b in 0..<256 { tokens.append(Gemma3TextTokenizer.bytePiece(UInt8(b))); types.append(.byte) }
    // Normal pieces: lower ids merge first.
    let normal = ["▁", "a", "b", "c", "h", "e", "l", "o", "ab", "bc", "▁a", "he", "ll", "hell", "hello", "▁hello", "é", ";"]
    tokens += normal
    types += Array(repeating: .normal, count: normal.count)
    return try Gemma3TextTokenizer(tokens: tokens, types: types, bosID: 2, eosID: 1, padID: 0, unknownID: 3)
}

@Suite("Tokenizer algorithm")
struct TokenizerUnitTests {
    @Test("merges follow piece order, ties to the left")
    func merging() throws {
        let t = try tinyTokenizer()
        func pieces(_ s: String) -> [String] { t.encode(s, addBOS: false).map { t.piece(for: $0)! } }
        // "ab" (lower id) beats "bc" in "abc".
        #expect(pieces("abc") == ["ab", "c"])
        #expect(pieces("hello") == ["hello"])
        #expect(pieces(" hello") == ["▁hello"])
        #expect(pieces("a a") == ["a", "▁a"])
        #expect(pieces("aaa") == ["a", "a", "a"])
        // Space runs are pieces spelled with ▁ and merge like any other.
        #expect(pieces("a  b") == ["a", "▁▁", "b"])
        #expect(pieces("   ") == ["▁▁▁"])
    }

    @Test("byte fallback for scalars outside the vocabulary, and decoding back")
    func byteFallback() throws {
        let t = try tinyTokenizer()
        let ids = t.encode("a€", addBOS: false)
        #expect(ids.map { t.piece(for: $0)! } == ["a", "<0xE2>", "<0x82>", "<0xAC>"])
        #expect(t.decode(ids) == "a€")
        // A lone continuation byte is not valid UTF-8: one replacement character per byte.
        #expect(t.decode([t.id(for: "<0x82>")!, t.id(for: "<0xAC>")!, t.id(for: "a")!]) == "\u{FFFD}\u{FFFD}a")
        // Canonically equivalent text is still different pieces.
        #expect(t.encode("e\u{301}", addBOS: false).count == 3)
        #expect(t.encode("\u{e9}", addBOS: false) == [t.id(for: "é")!])
        #expect(t.id(for: "\u{37E}") == nil && t.id(for: ";") != nil)
    }

    @Test("control and user-defined tokens are matched whole")
    func wholePieces() throws {
        let t = try tinyTokenizer()
        let ids = t.encode("<start_of_turn>hello\n<end_of_turn>", addBOS: true)
        #expect(ids == [2, 4, t.id(for: "hello")!, 6, 5])
        #expect(t.decode(ids) == "<bos><start_of_turn>hello\n<end_of_turn>")
        #expect(t.decode(ids, skipSpecialTokens: true) == "hello\n")
        #expect(t.encode("", addBOS: false).isEmpty)
        #expect(t.encode("", addBOS: true, addEOS: true) == [2, 1])
    }

    @Test("vocabulary extension: ids, matching, decoding, errors")
    func vocabularyExtension() throws {
        var t = try tinyTokenizer()
        let n = t.vocabularySize
        let r = try t.extendVocabulary(with: ["<m0>", "<m1>", "<m10>"])
        #expect(r == n..<(n + 3))
        #expect(t.baseVocabularySize == n && t.vocabularySize == n + 3)
        #expect(t.encode("ab<m1><m10>c<m0>", addBOS: false) ==
                [t.id(for: "ab")!, n + 1, n + 2, t.id(for: "c")!, n])
        #expect(t.decode([n + 2, n]) == "<m10><m0>")
        let r2 = try t.extendVocabulary(with: ["<m2>"])
        #expect(r2 == (n + 3)..<(n + 4))
        #expect(throws: InputError.self) { try t.extendVocabulary(with: ["<m0>"]) }
        #expect(throws: InputError.self) { try t.extendVocabulary(with: ["hello"]) }
        #expect(throws: InputError.self) { try t.extendVocabulary(with: ["<x>", "<x>"]) }
        #expect(throws: InputError.self) { try t.extendVocabulary(with: [""]) }
        #expect(t.vocabularySize == n + 4)
        #expect(try t.extendVocabulary(with: []) == (n + 4)..<(n + 4))
    }
}
