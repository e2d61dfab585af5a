import BiomechCore
import ClinicalTasks
import Foundation

/// `qa`: builds the question–answer set for every task that applies to every trial, with
/// the backbone's chat template, and its Table-1 counts.
public struct QAStage: StageExecutor {
    /// The chat template to render with; the backbone's when a backbone is configured.
    let chatTemplate: @Sendable (RunContext) throws -> ChatTemplate

    public init(chatTemplate: @escaping @Sendable (RunContext) throws -> ChatTemplate) { self.chatTemplate = chatTemplate }

    public func run(_ context: RunContext) throws -> [String: String] {
        let d = context.directory
        let trials = try RunArtifacts.encodedTrials(d)
        let heads = try RunArtifacts.tasks(context).heads
        let builder = QABuilder(tasks: heads, seed: context.seed, chatTemplate: try chatTemplate(context))
        let set = try builder.build(trials)
        try set.write(to: RunArtifacts.qaDirectory(d))
        var summary = ["records": "\(set.records.count)"]
        for side in SplitSide.allCases { summary[side.rawValue] = "\(set.records(split: side).count)" }
        return summary
    }
}
