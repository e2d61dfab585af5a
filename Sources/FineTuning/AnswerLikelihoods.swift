import Foundation

/// A classification question's answers scored by a model: every class's summed negative
/// log-likelihood (nats) of its reference answer after the prompt, in the task's class order.
public struct AnswerLikelihoods: Sendable, Codable, Equatable {
    public var classes: [String]
    public var negativeLogLikelihoods: [Double]

    public init(classes: [String], negativeLogLikelihoods: [Double]) {
        self.classes = classes
        self.negativeLogLikelihoods = negativeLogLikelihoods
    }

    /// The class whose answer is most likely after the shift `offsets` (subtracted per
    /// class; none = plain likelihood); the first of equals.
    public func best(subtracting offsets: [Double]? = nil) -> String {
        let x = shifted(offsets)
        return classes[x.indices.min { x[$0] < x[$1] }!]
    }

    /// Each class's probability among the task's answers, in class order: the softmax of
    /// the negative log-likelihoods after the shift `offsets`.
    public func probabilities(subtracting offsets: [Double]? = nil) -> [Double] {
        let x = shifted(offsets)
        let least = x.min() ?? 0
        let weights = x.map { Foundation.exp(least - $0) }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    func shifted(_ offsets: [Double]?) -> [Double] {
        offsets.map { o in zip(negativeLogLikelihoods, o).map { $0 - $1 } } ?? negativeLogLikelihoods
    }

    enum CodingKeys: String, CodingKey {
        case classes, negativeLogLikelihoods = "negative_log_likelihoods"
    }
}
