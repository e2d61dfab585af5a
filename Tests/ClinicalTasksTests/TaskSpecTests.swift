import BiomechCore
import ClinicalTasks
import Foundation
import Testing

@Suite struct TaskSpecTests {
    @Test func parsesAClassificationTask() throws {
        let spec = try TaskSpec.parse(diagnosisYAML)
        #expect(spec.id == "diagnosis")
        #expect(spec.taskKind == .classification)
        #expect(spec.classNames == ["stroke", "prosthesis", "sci"])
        #expect(spec.classes[1].display == "prosthesis user")
        #expect(spec.prompts.count == 2)
        #expect(spec.metric == .macroF1)
        #expect(spec.appliesWhen.first?.label == "impaired")
        #expect(spec.appliesWhen.first?.values == ["yes"])
    }

    @Test func appliesOnlyWhereConditionsHold() throws {
        let task = try head(diagnosisYAML)
        #expect(task.applies(to: ["impaired": .category("yes"), "diagnosis": .category("stroke")]))
        #expect(!task.applies(to: ["impaired": .category("no"), "diagnosis": .category("stroke")]))
        #expect(!task.applies(to: ["impaired": .category("yes")]))  // label missing
        #expect(!task.applies(to: ["impaired": .category("yes"), "diagnosis": .category("flu")]))  // not a class
        #expect(task.target(from: ["diagnosis": .category("SCI")]) == .category("sci"))
    }

    @Test func writesAndReadsAnswers() throws {
        let task = try head(diagnosisYAML)
        #expect(task.answer(for: .category("prosthesis")) == "The diagnosis is prosthesis user.")
        #expect(task.parse(answer: "The diagnosis is prosthesis user.") == .category("prosthesis"))
        #expect(task.parse(answer: "the DIAGNOSIS is: Hemiparesis!") == .category("stroke"))
        #expect(task.parse(answer: "Probably an amputee") == .category("prosthesis"))
        #expect(task.parse(answer: "sci") == .category("sci"))
        #expect(task.parse(answer: "I cannot tell.") == nil)
        #expect(task.parse(answer: "") == nil)
        #expect(task.parse(answer: "scientific") == nil)  // whole words only

        let speed = try head(speedYAML)
        #expect(speed.answer(for: .number(1.234)) == "The walking speed is 1.23 m/s.")
        #expect(speed.parse(answer: "The walking speed is 1.23 m/s.") == .number(1.23))
        #expect(speed.parse(answer: "about 0.9m/s") == .number(0.9))
        #expect(speed.parse(answer: "-.5") == .number(-0.5))
        #expect(speed.parse(answer: "1") == .number(1))
        #expect(speed.parse(answer: "fast") == nil)
    }

    @Test func longerPhrasesWinOverTheirParts() throws {
        let impaired = try TaskSpec.load(repositoryRoot.appendingPathComponent("recipes/tasks/impaired.yaml"))
        #expect(impaired.parse(answer: "The person is not impaired.") == .category("no"))
        #expect(impaired.parse(answer: "The person is impaired.") == .category("yes"))
        #expect(impaired.parse(answer: "This person is NOT impaired") == .category("no"))
        let freezer = try TaskSpec.load(repositoryRoot.appendingPathComponent("recipes/tasks/fgdi_freezer.yaml"))
        #expect(freezer.parse(answer: "Non-freezer") == .category("non_freezer"))
        #expect(freezer.parse(answer: "a freezer") == .category("freezer"))
        let device = try TaskSpec.load(repositoryRoot.appendingPathComponent("recipes/tasks/assistive_device.yaml"))
        #expect(device.parse(answer: "The person uses a wheeled walker.") == .category("rollator"))
        #expect(device.parse(answer: "walker") == .category("walker"))
        let uiprmd = try TaskSpec.load(repositoryRoot.appendingPathComponent("recipes/tasks/uiprmd_correctness.yaml"))
        #expect(uiprmd.parse(answer: "The exercise is performed incorrectly.") == .category("incorrect"))
        #expect(uiprmd.parse(answer: "The exercise is performed correctly.") == .category("correct"))
    }

    @Test func unknownKeyNamesLineAndAllowedKeys() throws {
        let yaml = """
        id: x
        kind: regression
        label: y
        prompts: ["<motion>"]
        answer: "{value}"
        colour: red
        """
        do {
            _ = try TaskSpec.parse(yaml, file: "bad.yaml")
            Issue.record("expected an error")
        } catch let error as InputError {
            #expect(error.file == "bad.yaml")
            #expect(error.line == 6)
            #expect(error.column == 1)
            #expect(error.message.contains("colour"))
            #expect(error.allowed.contains("precision"))
            #expect(!error.allowed.contains("classes"))
        }
    }

    @Test func rejectsBadTasks() throws {
        func message(_ yaml: String) -> InputError? {
            do { _ = try TaskSpec.parse(yaml, file: "t.yaml"); return nil } catch { return error as? InputError }
        }
        let base = "id: t\nkind: classification\nlabel: l\nanswer: \"{class}\"\n"
        // A prompt without <motion>.
        let noMotion = message(base + "classes: [a, b]\nprompts: [\"What is it?\"]\n")
        #expect(noMotion?.message.contains("<motion>") == true)
        #expect(noMotion?.line == 6)
        // The same phrase for two classes.
        let clash = message(base + "classes: { a: [x], b: [X!] }\nprompts: [\"<motion>\"]\n")
        #expect(clash?.message.contains("also names class") == true)
        // A metric of the other kind.
        let metric = message(base + "classes: [a, b]\nprompts: [\"<motion>\"]\nmetric: pearson_r\n")
        #expect(metric?.allowed == ["macro_f1", "weighted_f1", "accuracy"])
        // Unknown kind.
        let kind = message("id: t\nkind: ordinal\nlabel: l\n")
        #expect(kind?.allowed == ["classification", "regression"])
        // Missing key.
        let missing = message("id: t\nkind: regression\nlabel: l\nanswer: \"{value}\"\n")
        #expect(missing?.field == "prompts")
        // Bad id, broken YAML.
        #expect(message("id: Bad-Id\nkind: regression\nlabel: l\nprompts: [\"<motion>\"]\nanswer: \"{value}\"\n")?.field == "id")
        let broken = message("id: [unclosed\n")
        #expect(broken?.line != nil)
        // Answer template without its slot.
        #expect(message(base.replacingOccurrences(of: "{class}", with: "x") + "classes: [a, b]\nprompts: [\"<motion>\"]\n")?.field == "answer")
    }

    @Test func shippedCatalogHasEveryTask() throws {
        let catalog = try TaskCatalog.load(folders: [TaskCatalog.shippedFolder(root: repositoryRoot)])
        let expected = ["activity", "impaired", "diagnosis", "assistive_device", "fall_history", "walking_speed", "cadence",
                        "tug_time", "fsst_time", "uiprmd_exercise", "uiprmd_correctness", "fgdi_group", "fgdi_medication",
                        "fgdi_freezer", "fgdi_updrs3", "fgdi_minibestest", "fgdi_k_level", "fgdi_handrail"]
        #expect(Set(catalog.ids) == Set(expected))
        let heads = try TaskCatalog.heads(for: catalog.specs, registry: taskRegistry)
        #expect(heads.count == expected.count)
        // Every reference answer parses back to its target.
        for (spec, task) in zip(catalog.specs, heads) {
            if spec.taskKind == .classification {
                for c in spec.classes {
                    #expect(task.parse(answer: task.answer(for: .category(c.name))) == .category(c.name), "\(spec.id) \(c.name)")
                    for s in c.synonyms { #expect(task.parse(answer: s) == .category(c.name), "\(spec.id): \(s)") }
                }
            } else {
                #expect(task.parse(answer: task.answer(for: .number(12.0))) == .number(12.0), "\(spec.id)")
            }
        }
        #expect(throws: InputError.self) { try catalog.select(["activity", "nope"]) }
    }

    @Test func duplicateIdsAcrossFoldersAreErrors() throws {
        let folder = try temporaryFolder()
        try diagnosisYAML.write(to: folder.appendingPathComponent("mine.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: InputError.self) {
            try TaskCatalog.load(folders: [TaskCatalog.shippedFolder(root: repositoryRoot), folder])
        }
        #expect(throws: InputError.self) { try TaskCatalog.load(folders: [folder.appendingPathComponent("missing")]) }
    }
}
