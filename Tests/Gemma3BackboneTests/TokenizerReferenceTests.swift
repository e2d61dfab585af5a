import Foundation
import GGUF
import Testing
@testable import Gemma3Backbone

struct TokenizerFixture: Decodable {
    struct Case: Decodable { var text: String; var ids: [Int]; var decoded: String? }
    var cases: [Case]
    var with_bos: [Case]
    var bos_token_id: Int
    var eos_token_id: Int

    static func load() throws -> TokenizerFixture {
        try JSONDecoder().decode(TokenizerFixture.self,
                                 from: Data(contentsOf: TestPaths.fixture("tokenizer_reference.json")))
    }
}

@Suite("Tokenizer against the transformers reference ids")
struct TokenizerReferenceTests {
    @Test("the corpus encodes to the reference ids and decodes back")
    func corpus() throws {
        guard let tokenizer = try RealTokenizer.load() else { return }
        let fixture = try TokenizerFixture.load()
        #expect(fixture.cases.count >= 200)
        var mismatches = 0
        for c in fixture.cases {
            let ids = tokenizer.encode(c.text, addBOS: false)
            if ids != c.ids {
                mismatches += 1
                Issue.record("encode \(c.text.debugDescription): got \(ids), expected \(c.ids)")
            }
            let decoded = tokenizer.decode(c.ids)
            #expect(decoded == c.decoded ?? c.text, "decode \(c.text.debugDescription)")
            if !c.text.contains("\u{2581}") {
                #expect(decoded == c.text, "round trip \(c.text.debugDescription)")
            }
        }
        #expect(mismatches == 0)
    }

    @Test("BOS is added by default and on request")
    func withBOS() throws {
        guard let tokenizer = try RealTokenizer.load() else { return }
        let fixture = try TokenizerFixture.load()
        #expect(tokenizer.bosID == fixture.bos_token_id)
        #expect(tokenizer.eosID == fixture.eos_token_id)
        for c in fixture.with_bos {
            #expect(tokenizer.encode(c.text) == c.ids, "\(c.text.debugDescription)")
            #expect(tokenizer.encode(c.text, addBOS: true) == c.ids)
        }
    }

    @Test("special tokens of the real vocabulary")
    func specialTokens() throws {
        guard let tokenizer = try RealTokenizer.load() else { return }
        #expect(tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.bosID == 2 && tokenizer.eosID == 1 && tokenizer.padID == 0 && tokenizer.unknownID == 3)
        #expect(tokenizer.startOfTurnID == 105 && tokenizer.endOfTurnID == 106)
        #expect(tokenizer.addSpacePrefix == false)
        #expect(tokenizer.piece(for: 138) == "▁▁")
        #expect(tokenizer.types[238] == .byte && tokenizer.piece(for: 238) == "<0x00>")
        #expect(tokenizer.decode([2, 105, 2364, 107, 2202, 106], skipSpecialTokens: true) == "user\nhi")
    }

    @Test("motion tokens extend the real vocabulary as new rows")
    func extendReal() throws {
        guard var tokenizer = try RealTokenizer.load() else { return }
        let names = (0..<512).map { "<motion_\($0)>" } + ["<motion_start>", "<motion_end>"]
        let range = try tokenizer.extendVocabulary(with: names)
        #expect(range == 262_144..<(262_144 + 514))
        #expect(tokenizer.vocabularySize == 262_144 + 514)
        let text = "The gait <motion_start><motion_5><motion_511><motion_end> shows a limp."
        let ids = tokenizer.encode(text, addBOS: false)
        #expect(ids.contains(262_144 + 512) && ids.contains(262_144 + 5) && ids.contains(262_144 + 511))
        #expect(tokenizer.decode(ids) == text)
        // Text without motion tokens is unchanged by the extension.
        let base = try #require(try RealTokenizer.load())
        #expect(tokenizer.encode("cadence 104 steps/min") == base.encode("cadence 104 steps/min"))
        #expect(base.vocabularySize == 262_144)
    }
}
