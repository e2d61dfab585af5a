import Testing
@testable import BiomechCore

private final class Doubler { let factor: Int; init(_ f: Int) { factor = f } }

@Suite struct PluginRegistryTests {
    private func registry() -> PluginRegistry {
        var r = PluginRegistry()
        r.register(PluginDescriptor(id: "doubler", kind: .tokenizer, summary: "s",
                                    parameters: [ParameterSpec("factor", "int", default: "2", "")])) { p in
            Doubler(try p.int("factor", default: 2))
        }
        return r
    }

    @Test func makesWithParameters() throws {
        let d: Doubler = try registry().make(.tokenizer, id: "doubler", parameters: PluginParameters(["factor": "5"]))
        #expect(d.factor == 5)
    }

    @Test func unknownIdListsIds() {
        let error = #expect(throws: InputError.self) {
            let _: Doubler = try registry().make(.tokenizer, id: "tripler", parameters: .empty)
        }
        #expect(error?.allowed == ["doubler"])
    }

    @Test func undeclaredParameterIsRejected() {
        let error = #expect(throws: InputError.self) {
            let _: Doubler = try registry().make(.tokenizer, id: "doubler", parameters: PluginParameters(["facter": "5"]))
        }
        #expect(error?.allowed == ["factor"])
    }

    @Test func wrongTypeNamesTheField() {
        let error = #expect(throws: InputError.self) {
            let _: Doubler = try registry().make(.tokenizer, id: "doubler", parameters: PluginParameters(["factor": "five"], path: "tokenizer"))
        }
        #expect(error?.field == "tokenizer.factor")
    }

    @Test func seedsAreNonNegative() throws {
        #expect(try PluginParameters(["seed": "7"]).seed(default: 1) == 7)
        #expect(try PluginParameters.empty.seed(default: 3) == 3)
        let error = #expect(throws: InputError.self) { try PluginParameters(["seed": "-1"], path: "adapter").seed(default: 0) }
        #expect(error?.field == "adapter.seed")
    }

    @Test func descriptorsAreListedByKind() {
        #expect(registry().descriptors.map(\.id) == ["doubler"])
        #expect(registry().ids(of: .backbone).isEmpty)
    }
}
