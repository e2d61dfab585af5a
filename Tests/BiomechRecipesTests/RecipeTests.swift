import BiomechCore
import Foundation
import Testing
@testable import BiomechRecipes

private func fixture(_ name: String) -> String {
    Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")!.path
}

/// A registry with two fake plugins, enough to exercise validation.
private let registry: PluginRegistry = {
    var r = PluginRegistry()
    r.register(PluginDescriptor(id: "fake-representation", kind: .representation, summary: "test",
                                parameters: [ParameterSpec("zero_wrists", "bool", default: "true", "")])) { _ in 0 }
    r.register(PluginDescriptor(id: "fake-tokenizer", kind: .tokenizer, summary: "test",
                                parameters: [ParameterSpec("codebook_size", "int", default: "512", ""),
                                             ParameterSpec("width", "int", default: "512", ""),
                                             ParameterSpec("reset_threshold", "double|auto", default: "auto", "")])) { _ in 0 }
    r.register(PluginDescriptor(id: "other-tokenizer", kind: .tokenizer, summary: "test",
                                parameters: [ParameterSpec("layers", "int", default: "1", "")])) { _ in 0 }
    return r
}()

@Suite struct RecipeTests {
    @Test func misspelledKeyIsRejectedWithLineAndChoices() throws {
        let error = #expect(throws: InputError.self) { try RecipeLoader.load(fixture("typo.yaml")) }
        #expect(error?.line == 6)
        #expect(error?.column == 1)
        #expect(error?.file?.hasSuffix("typo.yaml") == true)
        #expect(error?.allowed.contains("tokenizer") == true)
        #expect(error?.description.contains("did you mean 'tokenizer'") == true)
    }

    @Test func unknownPluginIdIsRejectedWithLineAndValidIds() throws {
        let loaded = try RecipeLoader.load(fixture("unknown-plugin.yaml"))
        let error = #expect(throws: InputError.self) { try RecipeLoader.check(loaded, registry: registry) }
        #expect(error?.file?.hasSuffix("unknown-plugin.yaml") == true)
        #expect(error?.line == 4)
        #expect(error?.allowed == ["fake-tokenizer", "other-tokenizer"])
        #expect(error?.field == "tokenizer.id")
    }

    @Test func undeclaredPluginParameterIsRejected() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let base = URL(fileURLWithPath: fixture("base.yaml"))
        let file = dir.appendingPathComponent("r.yaml")
        try "extends: \(base.path)\nname: x\ntokenizer:\n  codebook_sise: 3\n".write(to: file, atomically: true, encoding: .utf8)
        let loaded = try RecipeLoader.load(file.path)
        let error = #expect(throws: InputError.self) { try RecipeLoader.check(loaded, registry: registry) }
        #expect(error?.line == 4)
        #expect(error?.allowed == ["codebook_size", "width", "reset_threshold"])
    }

    @Test func wrongParameterTypeIsRejected() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("r.yaml")
        try "extends: \(fixture("base.yaml"))\nname: x\ntokenizer:\n  width: wide\n".write(to: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: InputError.self) { try RecipeLoader.check(try RecipeLoader.load(file.path), registry: registry) }
        #expect(error?.message.contains("an integer") == true)
        #expect(error?.line == 4)
    }

    /// A recipe `extends: base.yaml` with `body` appended, loaded.
    private func recipe(_ body: String) throws -> LoadedRecipe {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("r.yaml")
        try "extends: \(fixture("base.yaml"))\nname: x\n\(body)".write(to: file, atomically: true, encoding: .utf8)
        return try RecipeLoader.load(file.path)
    }

    @Test func typeOrLiteralAlternativesAcceptBoth() throws {
        try RecipeLoader.check(recipe("tokenizer:\n  reset_threshold: 1.5\n"), registry: registry)
        try RecipeLoader.check(recipe("tokenizer:\n  reset_threshold: auto\n"), registry: registry)
        let error = #expect(throws: InputError.self) {
            try RecipeLoader.check(recipe("tokenizer:\n  reset_threshold: sometimes\n"), registry: registry)
        }
        #expect(error?.allowed == ["double", "auto"] && error?.line == 4)
    }

    @Test func trainingValuesTheTrainerCannotUseAreLocatedErrors() throws {
        for (line, field) in [("batch_size: 0", "training.batch_size"), ("epochs: .nan", "training.epochs"),
                              ("gradient_accumulation: -1", "training.gradient_accumulation"),
                              ("warmup_ratio: 2", "training.warmup_ratio"), ("epochs: 1e300", "training.epochs"),
                              ("batch_size: 1000000000000", "training.batch_size")] {
            let error = #expect(throws: InputError.self) {
                try RecipeLoader.check(recipe("training:\n  \(line)\n"), registry: registry)
            }
            #expect(error?.field == field && error?.line == 4, "\(line): \(String(describing: error))")
        }
    }

    @Test func aTaskListedTwiceIsAnError() throws {
        let error = #expect(throws: InputError.self) {
            try RecipeLoader.check(recipe("tasks: [gait_speed, gait_speed]\n"), registry: registry)
        }
        #expect(error?.field == "tasks" && error?.line == 3, "\(String(describing: error))")
    }

    @Test func extendsOverridesAsDocumented() throws {
        let loaded = try RecipeLoader.load(fixture("ablation.yaml"))
        let r = loaded.recipe
        #expect(r.name == "ablation")
        #expect(r.seed == 7)                                   // inherited scalar
        #expect(r.tasks == ["diagnosis"])                      // lists are replaced whole
        #expect(r.training.epochs == 0.5)                      // nested override
        #expect(r.training.learningRate == 2e-4)               // nested sibling kept
        #expect(r.tokenizer?.id == "fake-tokenizer")
        let p = try #require(r.tokenizer?.parameters)
        #expect(try p.int("codebook_size", default: 0) == 256) // overridden parameter
        #expect(try p.int("width", default: 0) == 512)         // inherited parameter
        #expect(loaded.resolved["extends"] == nil)
        // The override is located in the extending file, the inherited value in the base.
        #expect(loaded.resolved["tokenizer"]?["codebook_size"]?.location?.file.hasSuffix("ablation.yaml") == true)
        #expect(loaded.resolved["tokenizer"]?["width"]?.location?.file.hasSuffix("base.yaml") == true)
        try RecipeLoader.check(loaded, registry: registry)
    }

    @Test func changingAPluginIdReplacesItsSection() throws {
        let r = try RecipeLoader.load(fixture("swap-plugin.yaml")).recipe
        #expect(r.tokenizer?.id == "other-tokenizer")
        #expect(r.tokenizer?.parameters.keys == ["layers"])   // no codebook_size leaking in
        #expect(r.training.epochs == 0.5)                      // two levels of extends
    }

    @Test func nullRemovesAnInheritedKey() throws {
        let base = RecipeResolver.merge(
            try YAMLConfigLoader.parse("a: 1\nb: {c: 2, d: 3}\n", file: "base"),
            try YAMLConfigLoader.parse("b: {c: ~}\n", file: "child"))
        #expect(base["b"]?["c"] == nil)
        #expect(base["b"]?["d"]?.intValue == 3)
    }

    @Test func extendsCycleIsAnError() {
        let error = #expect(throws: InputError.self) { try RecipeLoader.load(fixture("cycle-a.yaml")) }
        #expect(error?.message.contains("cycle") == true)
    }

    @Test func unknownEnumValueListsChoices() throws {
        let value = try YAMLConfigLoader.parse("name: x\nstages: [data, tokeniser]\ndata: {source: synthetic}\nrepresentation: r\n", file: "inline.yaml")
        let error = #expect(throws: InputError.self) { try ConfigDecoder.decode(Recipe.self, from: value) }
        #expect(error?.line == 2)
        #expect(error?.allowed.contains("tokenizer") == true)
        #expect(error?.field == "stages[1]")
    }

    @Test func yamlSyntaxErrorIsLocated() {
        let error = #expect(throws: InputError.self) { try YAMLConfigLoader.parse("a: [1, 2\nb: 3\n", file: "bad.yaml") }
        #expect(error?.file == "bad.yaml")
        #expect(error?.line != nil)
    }

    @Test func missingRequiredKeyIsNamed() throws {
        let value = try YAMLConfigLoader.parse("name: x\nstages: [data]\nrepresentation: r\n", file: "m.yaml")
        let error = #expect(throws: InputError.self) { try ConfigDecoder.decode(Recipe.self, from: value) }
        #expect(error?.message.contains("'data'") == true)
    }

    @Test func resolvedRecipeRoundTripsThroughYAML() throws {
        let loaded = try RecipeLoader.load(fixture("ablation.yaml"))
        let again = try YAMLConfigLoader.parse(loaded.yaml, file: "again.yaml")
        let recipe = try ConfigDecoder.decode(Recipe.self, from: again)
        #expect(recipe.name == "ablation")
        #expect(recipe.training.epochs == 0.5)
        #expect(try recipe.tokenizer?.parameters.int("codebook_size", default: 0) == 256)
        #expect(YAMLWriter.write(again) == loaded.yaml)
    }
}
