import Foundation
import Testing
@testable import Gemma3Backbone

/// The reference logits the forward pass will be checked against (see
/// scripts/fixtures/make_gemma_logit_fixtures.py).
struct LogitFixture: Decodable {
    struct Position: Decodable {
        var top_ids: [Int]
        var top_logits: [Double]
        var range: Double
        var mean: Double
        var std: Double
    }
    struct Prompt: Decodable {
        var name: String
        var text: String
        var token_ids: [Int]
        var positions: [Position]
    }
    struct Greedy: Decodable {
        var prompt: String
        var prompt_ids: [Int]
        var new_token_ids: [Int]
        var new_text: String
    }
    var versions: [String: String]
    var top_k: Int
    var norm_weight_offset_subtracted_on_load: Double
    var prompts: [Prompt]
    var greedy: Greedy

    static func load() throws -> LogitFixture {
        try JSONDecoder().decode(LogitFixture.self,
                                 from: Data(contentsOf: TestPaths.fixture("gemma3_270m_reference.json")))
    }
}

@Suite("Reference logit fixture")
struct LogitFixtureTests {
    @Test("the fixture is complete and consistent")
    func structure() throws {
        let f = try LogitFixture.load()
        #expect(Set(f.prompts.map(\.name)) == ["short", "clinical", "chat"])
        #expect(f.top_k == 20)
        #expect(f.norm_weight_offset_subtracted_on_load == 1)
        for p in f.prompts {
            #expect(p.positions.count == p.token_ids.count, "\(p.name)")
            for q in p.positions {
                #expect(q.top_ids.count == 20 && q.top_logits.count == 20)
                #expect(zip(q.top_logits, q.top_logits.dropFirst()).allSatisfy { $0 >= $1 })
                #expect(q.range > 0 && q.std > 0)
            }
        }
        #expect(f.prompts.first { $0.name == "clinical" }!.token_ids.count >= 50)
        #expect(f.greedy.new_token_ids.count == 20)
    }

    @Test("prompt ids and the greedy text agree with the Swift tokenizer")
    func tokenization() throws {
        guard let tokenizer = try RealTokenizer.load() else { return }
        let f = try LogitFixture.load()
        for p in f.prompts where p.name != "chat" {
            #expect(tokenizer.encode(p.text) == p.token_ids, "\(p.name)")
        }
        #expect(tokenizer.encode(f.greedy.prompt) == f.greedy.prompt_ids)
        #expect(tokenizer.decode(f.greedy.new_token_ids) == f.greedy.new_text)
    }
}
