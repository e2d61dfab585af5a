import BiomechCore
import ClinicalTasks
import Foundation
import TokenHistogramBoosting

/// The chance baseline: the token-histogram boosting pipeline (same features, same
/// randomised search and grouped cross-validation) trained on labels shuffled within the
/// training split with the run's seed. Whatever it scores is what the label distribution
/// alone gives.
public final class ChanceBaseline: BaselinePredictor {
    public static let descriptor = PluginDescriptor(
        id: "chance", kind: .baseline,
        summary: "token-histogram boosting trained on labels shuffled within the training split",
        parameters: TokenHistogramBoosting.descriptor.parameters)

    public static func make(_ parameters: PluginParameters) throws -> ChanceBaseline {
        var configuration = try TokenHistogramBoosting.configuration(from: parameters)
        configuration.shuffleLabels = true
        return ChanceBaseline(configuration: configuration)
    }

    public let inner: TokenHistogramBoosting

    public init(configuration: TokenHistogramBoosting.Configuration = .init()) {
        var c = configuration
        c.shuffleLabels = true
        inner = TokenHistogramBoosting(configuration: c)
    }

    public func fit(encodings: [MotionEncoding], targets: [LabelValue], participants: [String],
                    task: any TaskHead, random: inout SeededRandom, progress: ProgressLog) throws {
        try inner.fit(encodings: encodings, targets: targets, participants: participants, task: task, random: &random, progress: progress)
    }

    public func predict(encodings: [MotionEncoding]) throws -> [LabelValue] { try inner.predict(encodings: encodings) }

    public func save(to directory: URL) throws { try inner.save(to: directory) }
    public func load(from directory: URL) throws { try inner.load(from: directory) }
}
