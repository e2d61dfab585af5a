import BiomechCore
import ClassificationTask
import ClinicalTasks
import Foundation
import RegressionTask

/// The registry of the two YAML-configured task heads, as the command-line tool registers them.
let taskRegistry: PluginRegistry = {
    var r = PluginRegistry()
    r.register(ClassificationTask.descriptor) { try ClassificationTask.make($0) }
    r.register(RegressionTask.descriptor) { try RegressionTask.make($0) }
    return r
}()

func head(_ yaml: String, file: String = "test.yaml") throws -> any TaskHead {
    let spec = try TaskSpec.parse(yaml, file: file)
    return try TaskCatalog.heads(for: [spec], registry: taskRegistry)[0]
}

/// The repository root (three levels above this file).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func fixture(_ name: String) throws -> Data {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        throw InputError(file: name, "fixture missing")
    }
    return try Data(contentsOf: url)
}

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("clinical-tasks-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

let diagnosisYAML = """
id: diagnosis
kind: classification
label: diagnosis
applies_when: { impaired: yes }
classes:
  stroke: [stroke, hemiparesis]
  prosthesis: [prosthesis user, amputee]
  sci: [spinal cord injury, SCI]
prompts:
  - "What is the diagnosis? <motion>"
  - "<motion> Which condition explains this gait?"
answer: "The diagnosis is {class}."
metric: macro_f1
"""

let speedYAML = """
id: walking_speed
kind: regression
label: walking_speed
applies_when: { activity: [walking] }
unit: m/s
precision: 2
prompts: ["How fast? <motion>"]
answer: "The walking speed is {value} {unit}."
"""
