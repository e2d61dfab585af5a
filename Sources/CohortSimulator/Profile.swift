import BiomechCore
import Foundation

/// The diagnoses the simulated cohort knows. Values are the `diagnosis` label.
public enum Diagnosis: String, Sendable, Codable, CaseIterable {
    case stroke, prosthesis, sci, tbi, parkinsons
}

/// Assistive devices (the `assistive_device` label).
public enum AssistiveDevice: String, Sendable, Codable, CaseIterable {
    case none, cane, crutches, walker, rollator
}

/// Activities of the cohort (the `activity` label).
public enum Activity: String, Sendable, Codable, CaseIterable {
    case walking, tug, fsst, sitToStand = "sit_to_stand", standing, turning
}

public enum AmputationLevel: String, Sendable, Codable { case transfemoral, transtibial }

public enum Side: String, Sendable, Codable { case right, left }

/// One simulated person: who they are and how impaired, before any movement is generated.
/// Every number that ends up as a label on a trial (speed, cadence, TUG, FSST) is measured
/// from the generated movement, not copied from here.
public struct ParticipantProfile: Sendable, Codable {
    public var id: String
    public var age: Double
    public var sex: String           // female | male
    public var height: Double        // m
    public var diagnosis: Diagnosis?  // nil: unimpaired
    /// 0 (mild) ... 1 (severe).
    public var severity: Double
    /// The more affected side (paretic side, amputated side; the worse side for bilateral conditions).
    public var affectedSide: Side
    public var amputationLevel: AmputationLevel?
    public var device: AssistiveDevice
    /// Comfortable walking speed the gait generator aims at, m/s (the label is measured).
    public var targetSpeed: Double
    /// Step-length factor of this person (1 = typical for height and speed).
    public var stepLengthFactor: Double

    public var impaired: Bool { diagnosis != nil }
}

/// The mix of the cohort. Fractions are normalised.
public struct CohortMix: Sendable, Codable {
    public var unimpaired = 0.30
    public var stroke = 0.20
    public var prosthesis = 0.18
    public var sci = 0.10
    public var tbi = 0.10
    public var parkinsons = 0.12
    public var transfemoralShare = 0.45
    public init() {}
}

extension SeededRandom {
    mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * nextDouble() }
    mutating func normal(_ mean: Double, _ sd: Double) -> Double { mean + sd * nextGaussian() }
    mutating func chance(_ p: Double) -> Bool { nextDouble() < p }
    mutating func pick(weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var u = nextDouble() * total
        for (i, w) in weights.enumerated() { u -= w; if u < 0 { return i } }
        return weights.count - 1
    }
}

@inline(__always) func clamp(_ x: Double, _ a: Double, _ b: Double) -> Double { min(max(x, a), b) }

enum ProfileSampler {
    /// Comfortable gait speed of unimpaired adults by age and sex (Bohannon & Andrews 2011 decade means).
    static func normativeSpeed(age: Double, female: Bool) -> Double {
        var v = 1.40
        if age > 50 { v -= 0.009 * (min(age, 70) - 50) }
        if age > 70 { v -= 0.02 * (age - 70) }
        return v - (female ? 0.04 : 0)
    }

    static func sample(index: Int, mix: CohortMix, rng: inout SeededRandom) -> ParticipantProfile {
        let id = String(format: "P%04d", index + 1)
        let weights = [mix.unimpaired, mix.stroke, mix.prosthesis, mix.sci, mix.tbi, mix.parkinsons]
        let k = rng.pick(weights: weights)
        let diagnosis: Diagnosis? = k == 0 ? nil : Diagnosis.allCases[k - 1]
        var age: Double
        var maleP = 0.5
        switch diagnosis {
        case nil: age = rng.uniform(20, 85)
        case .stroke?: age = clamp(rng.normal(63, 12), 30, 90); maleP = 0.55
        case .prosthesis?: age = clamp(rng.normal(55, 14), 20, 85); maleP = 0.72
        case .sci?: age = clamp(rng.normal(48, 15), 18, 80); maleP = 0.75
        case .tbi?: age = clamp(rng.normal(42, 15), 18, 80); maleP = 0.68
        case .parkinsons?: age = clamp(rng.normal(68, 8), 45, 90); maleP = 0.6
        }
        age = age.rounded()
        let female = !rng.chance(maleP)
        let height = clamp(female ? rng.normal(1.63, 0.065) : rng.normal(1.76, 0.07), 1.45, 2.0)
        let severity = diagnosis == nil ? 0 : 0.08 + 0.92 * pow(rng.nextDouble(), 0.9)
        let side: Side = rng.chance(0.5) ? .right : .left
        var level: AmputationLevel?
        if diagnosis == .prosthesis { level = rng.chance(mix.transfemoralShare) ? .transfemoral : .transtibial }

        // Devices: more severe, more support.
        let s = severity
        var w: [Double]  // none, cane, crutches, walker, rollator
        switch diagnosis {
        case nil: w = [1, age > 75 ? 0.06 : 0.005, 0.002, 0.002, age > 75 ? 0.04 : 0.002]
        case .stroke?: w = [1.25 - 1.5 * s, 0.2 + 0.6 * s, 0.04, 0.45 * s, 0.3 * s]
        case .prosthesis?: w = [1.05 - 1.2 * s, 0.1 + 0.35 * s, 0.1 + 0.4 * s, 0.3 * s, 0.15 * s]
        case .sci?: w = [0.8 - 1.0 * s, 0.2, 0.2 + 0.5 * s, 0.1 + 0.6 * s, 0.1 + 0.3 * s]
        case .tbi?: w = [1.0 - 1.0 * s, 0.15 + 0.3 * s, 0.05, 0.3 * s, 0.2 * s]
        case .parkinsons?: w = [1.0 - 1.1 * s, 0.1 + 0.3 * s, 0.02, 0.2 * s, 0.1 + 0.5 * s]
        }
        let device = AssistiveDevice.allCases[rng.pick(weights: w.map { max($0, 0.01) })]

        var factor: Double
        switch diagnosis {
        case nil: factor = 1
        case .stroke?: factor = 0.95 - 0.68 * s
        case .prosthesis?: factor = level == .transfemoral ? 0.88 - 0.42 * s : 0.98 - 0.3 * s
        case .sci?: factor = 0.9 - 0.62 * s
        case .tbi?: factor = 0.97 - 0.45 * s
        case .parkinsons?: factor = 1.0 - 0.3 * s
        }
        let deviceFactor: Double = [AssistiveDevice.none: 1, .cane: 0.93, .crutches: 0.9, .walker: 0.82, .rollator: 0.9][device]!
        let base = normativeSpeed(age: age, female: female)
        let speed = clamp(base * factor * deviceFactor * rng.normal(1, 0.09), 0.3, 1.75)
        var stepFactor = rng.normal(1, 0.05)
        if diagnosis == .parkinsons { stepFactor *= 0.84 - 0.08 * s }
        if diagnosis == .sci { stepFactor *= 0.95 }
        return ParticipantProfile(id: id, age: age, sex: female ? "female" : "male", height: height,
                                  diagnosis: diagnosis, severity: severity, affectedSide: side,
                                  amputationLevel: level, device: device, targetSpeed: speed,
                                  stepLengthFactor: stepFactor)
    }
}
