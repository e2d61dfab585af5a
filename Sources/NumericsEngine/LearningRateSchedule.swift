import Foundation

/// A learning-rate schedule: linear warm-up from 0 to `peak` over `warmupSteps`, then a
/// decay — constant, cosine or linear to `minimum` at `totalSteps`, or multistep
/// (multiply by `gamma` at each milestone, as T2M-GPT's VQ-VAE does).
///
/// Steps are 0-based: `rate(atStep: 0)` is the rate of the first optimizer step, which
/// is `peak / warmupSteps` during warm-up.
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public enum Decay: Sendable, Codable, Equatable {
        case constant
        case cosine
        case linear
        case multistep(milestones: [Int], gamma: Double)
    }

    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minimum: Double
    public var decay: Decay

    public init(peak: Double, warmupSteps: Int = 0, totalSteps: Int, minimum: Double = 0, decay: Decay = .cosine) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
        self.minimum = minimum; self.decay = decay
    }

    public func rate(atStep step: Int) -> Float {
        if step < warmupSteps { return Float(peak * Double(step + 1) / Double(warmupSteps)) }
        let span = Swift.max(1, totalSteps - warmupSteps)
        let progress = Swift.min(1, Swift.max(0, Double(step - warmupSteps) / Double(span)))
        switch decay {
        case .constant: return Float(peak)
        case .cosine: return Float(minimum + (peak - minimum) * 0.5 * (1 + cos(Double.pi * progress)))
        case .linear: return Float(peak - (peak - minimum) * progress)
        case .multistep(let milestones, let gamma):
            let passed = milestones.filter { step >= $0 }.count
            return Float(peak * pow(gamma, Double(passed)))
        }
    }
}
