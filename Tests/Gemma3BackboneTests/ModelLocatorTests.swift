import BiomechCore
import Foundation
import Testing
@testable import Gemma3Backbone

@Suite("Model location")
struct ModelLocatorTests {
    let base = URL(fileURLWithPath: "/srv/project")

    @Test("the default path and the environment variable")
    func paths() {
        #expect(ModelLocator.expectedURL(environment: [:], baseDirectory: base).path ==
                "/srv/project/models/gemma-3-270m-q4_k_m.gguf")
        #expect(ModelLocator.expectedURL(environment: ["BIOMECHGPT_MODEL": "/data/m.gguf"], baseDirectory: base).path ==
                "/data/m.gguf")
        #expect(ModelLocator.expectedURL(environment: ["BIOMECHGPT_MODEL": "other/m.gguf"], baseDirectory: base).path ==
                "/srv/project/other/m.gguf")
        #expect(ModelLocator.expectedURL(environment: ["BIOMECHGPT_MODEL": ""], baseDirectory: base).path ==
                "/srv/project/models/gemma-3-270m-q4_k_m.gguf")
    }

    @Test("a missing model tells the user to run make model")
    func missing() {
        let e = #expect(throws: InputError.self) {
            try ModelLocator.locate(environment: [:], baseDirectory: URL(fileURLWithPath: "/nonexistent-\(UInt32.random(in: 0...UInt32.max))"))
        }
        #expect(e?.description.contains("make model") == true)
        #expect(e?.file?.hasSuffix("models/gemma-3-270m-q4_k_m.gguf") == true)
        let e2 = #expect(throws: InputError.self) { try ModelLocator.locate(environment: ["BIOMECHGPT_MODEL": "/tmp"], baseDirectory: base) }
        #expect(e2?.description.contains("directory") == true)
    }

    @Test("an existing model is found")
    func found() throws {
        guard let url = TestPaths.realModel(for: "model locator") else { return }
        #expect(try ModelLocator.locate(environment: ["BIOMECHGPT_MODEL": url.path]) == url.standardizedFileURL)
    }
}
