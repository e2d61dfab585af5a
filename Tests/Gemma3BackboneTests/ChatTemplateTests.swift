import BiomechCore
import Foundation
import Testing
@testable import Gemma3Backbone

@Suite("Gemma 3 chat template")
struct ChatTemplateTests {
    @Test("a single user prompt")
    func single() {
        #expect(Gemma3ChatTemplate.prompt("How fast is this gait?") ==
                "<bos><start_of_turn>user\nHow fast is this gait?<end_of_turn>\n<start_of_turn>model\n")
    }

    @Test("system text goes before the first user turn")
    func system() {
        #expect(Gemma3ChatTemplate.prompt("Describe the motion.", system: "You are a gait analyst.") ==
                "<bos><start_of_turn>user\nYou are a gait analyst.\n\nDescribe the motion.<end_of_turn>\n<start_of_turn>model\n")
    }

    @Test("several turns, trimmed, with and without the generation prompt")
    func turns() throws {
        let messages: [Gemma3ChatTemplate.Message] = [.user(" Hi \n"), .model("Hello."), .user("Cadence?")]
        #expect(try Gemma3ChatTemplate.render(messages) ==
                "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n" +
                "<start_of_turn>user\nCadence?<end_of_turn>\n<start_of_turn>model\n")
        #expect(try Gemma3ChatTemplate.render([.user("a"), .model("b")], addGenerationPrompt: false, includeBOS: false) ==
                "<start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\nb<end_of_turn>\n")
    }

    @Test("roles that do not alternate are input errors")
    func alternation() {
        let e = #expect(throws: InputError.self) { try Gemma3ChatTemplate.render([.user("a"), .user("b")]) }
        #expect(e?.field == "messages[1].role" && e?.allowed == ["model"])
        #expect(throws: InputError.self) { try Gemma3ChatTemplate.render([.model("a")]) }
        #expect(throws: InputError.self) { try Gemma3ChatTemplate.render([.system("s"), .system("t"), .user("u")]) }
        #expect(throws: InputError.self) { try Gemma3ChatTemplate.render([]) }
        #expect(throws: InputError.self) { try Gemma3ChatTemplate.render([.system("only")]) }
    }

    @Test("the rendered prompt tokenizes like the reference chat prompt")
    func tokenized() throws {
        guard let tokenizer = try RealTokenizer.load() else { return }
        let reference = try LogitFixture.load()
        let chat = try #require(reference.prompts.first { $0.name == "chat" })
        let text = Gemma3ChatTemplate.prompt(
            "Describe the motion in one sentence: a person stands up from a chair and walks forward.")
        #expect(text == chat.text)
        #expect(tokenizer.encode(text, addBOS: false) == chat.token_ids)
    }
}

@Suite struct WeightFreeChatTemplateTests {
    @Test func staticTemplateRendersWhatTheLoadedBackboneRenders() throws {
        let backbone = try Gemma3LanguageBackbone(preset: "tiny", tokenizer: Gemma3TextTokenizer.byteLevel())
        let conversations: [[ChatTurn]] = [
            [ChatTurn(.user, "Is this gait impaired? <motion_start><motion_3><motion_end>")],
            [ChatTurn(.system, "You are a gait analyst."), ChatTurn(.user, "Cadence?"), ChatTurn(.model, "110 steps/min")],
            [ChatTurn(.user, "a"), ChatTurn(.user, "b")],  // not alternating: the fallback path
        ]
        for turns in conversations {
            for open in [true, false] {
                #expect(Gemma3LanguageBackbone.chatPrompt(turns, openModelTurn: open) == backbone.chatPrompt(turns, openModelTurn: open))
            }
        }
        #expect(Gemma3LanguageBackbone.chatPrompt([ChatTurn(.user, "Hi")], openModelTurn: true)
            == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    }
}
