import Foundation
import GGUF
@testable import Gemma3Backbone

enum TestPaths {
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The real model, or nil with the skip reason printed.
    static func realModel(for test: String) -> URL? {
        let env = ProcessInfo.processInfo.environment["BIOMECHGPT_MODEL"]
        let url = env.map { URL(fileURLWithPath: $0) }
            ?? repositoryRoot.appendingPathComponent(ModelLocator.defaultRelativePath)
        if FileManager.default.fileExists(atPath: url.path) { return url }
        print("SKIP \(test): the real model is not at \(url.path); run `make model` to fetch it")
        return nil
    }

    static func fixture(_ name: String) throws -> URL {
        guard let base = Bundle.module.resourceURL else { throw CocoaError(.fileNoSuchFile) }
        return base.appendingPathComponent("Fixtures").appendingPathComponent(name)
    }
}

/// The real tokenizer, loaded once for all tests: nil when the model file is absent
/// (the skip reason is printed); a load failure is rethrown to every test that asks.
enum RealTokenizer {
    private static let loaded: Result<Gemma3TextTokenizer?, any Error> = Result {
        guard let url = TestPaths.realModel(for: "tokenizer tests") else { return nil }
        return try Gemma3TextTokenizer(gguf: GGUFFile(url: url))
    }

    static func load() throws -> Gemma3TextTokenizer? { try loaded.get() }
}
