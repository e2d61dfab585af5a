import BiomechCore
import Foundation

/// The paper's activities as scripts over a `MotionBuilder`. Each returns the clean frames
/// (frames x 40, row-major); tracking noise is added afterwards.
enum Activities {
    /// How much slower than an unimpaired adult this person moves through transitions.
    static func slowness(_ p: ParticipantProfile) -> Double {
        let s = p.severity
        var k: Double
        switch p.diagnosis {
        case nil: k = 1
        case .stroke?: k = 1.1 + 1.5 * s
        case .prosthesis?: k = p.amputationLevel == .transfemoral ? 1.2 + 1.0 * s : 1.05 + 0.6 * s
        case .sci?: k = 1.15 + 1.5 * s
        case .tbi?: k = 1.05 + 0.8 * s
        case .parkinsons?: k = 1.05 + 0.8 * s
        }
        k += max(0, p.age - 60) * 0.012
        k += [AssistiveDevice.none: 0, .cane: 0.1, .crutches: 0.15, .walker: 0.3, .rollator: 0.15][p.device]!
        return k
    }

    static func stepLength(_ p: ParticipantProfile, speed: Double) -> Double {
        p.height * 0.413 * pow(speed / 1.3, 0.6) * p.stepLengthFactor
    }

    static func cadence(_ p: ParticipantProfile, speed: Double) -> Double {
        clamp(60 * speed / stepLength(p, speed: speed), 50, 150)
    }

    static func builder(_ style: GaitStyle, _ rate: Double, start: Pose, _ rng: inout SeededRandom) -> MotionBuilder {
        let b = MotionBuilder(frameRate: rate, style: style, start: start, heading: rng.uniform(-180, 180), rng: rng.derived("builder"))
        _ = rng.next()
        return b
    }

    // MARK: walking

    static func walking(_ p: ParticipantProfile, _ style: GaitStyle, _ rate: Double, _ rng: inout SeededRandom) -> [Double] {
        let v = clamp(p.targetSpeed * rng.normal(1, 0.04), 0.25, 1.9)
        let c = cadence(p, speed: v) * rng.normal(1, 0.02)
        let duration = clamp(6.5 / v, 5, 12)
        let phase0 = rng.nextDouble()
        var b = builder(style, rate, start: style.gaitPose(phase: phase0, vn: v / 1.3, amp: 1, ampJitter: 1), &rng)
        b.phase = phase0
        b.walk(distance: v * duration, speed: v, cadence: c)
        return b.frames
    }

    // MARK: sit-to-stand and the Timed Up and Go

    static func riseKeys(_ style: GaitStyle, _ p: ParticipantProfile) -> [(Double, Pose)] {
        let seated = style.seatedPose(), standing = style.standingPose()
        var lean = seated
        for s in 0..<2 { lean[K.hipFlex[s]] += 22; lean[K.ankle[s]] += 6 }
        lean[K.lumbarExt] -= 12; lean[K.tilt] -= 14; lean[K.neckFlex] += 5
        var off = blendPoses(seated, standing, 0.3)
        for s in 0..<2 { off[K.hipFlex[s]] = lean[K.hipFlex[s]] - 8; off[K.ankle[s]] = 14 }
        off[K.lumbarExt] = lean[K.lumbarExt]
        off[K.tx] = 0.05
        if p.diagnosis == .stroke || p.diagnosis == .prosthesis {
            // Weight shifted onto the stronger leg.
            let u = p.affectedSide == .right ? 1 : 0
            off[K.list] += u == 0 ? 4 : -4
            off[K.lumbarBend] += u == 0 ? 5 : -5
            let a = 1 - u
            off[K.knee[a]] = off[K.knee[a]] * 0.6
        }
        return [(0, seated), (0.35, lean), (0.55, off), (1, standing)]
    }

    static func sitKeys(_ style: GaitStyle, _ p: ParticipantProfile) -> [(Double, Pose)] {
        riseKeys(style, p).reversed().map { (1 - $0.0, $0.1) }
    }

    static func tug(_ p: ParticipantProfile, _ style: GaitStyle, _ rate: Double, _ rng: inout SeededRandom) -> [Double] {
        let slow = slowness(p) * rng.normal(1, 0.06)
        let v = clamp(p.targetSpeed * rng.normal(1.03, 0.04), 0.25, 1.9)
        let c = cadence(p, speed: v)
        var b = builder(style, rate, start: style.seatedPose(), &rng)
        b.hold(style.seatedPose(), duration: rng.uniform(0.8, 1.2), sway: 0.002)
        let dRise = clamp(rng.normal(1.0, 0.08) * slow, 0.7, 5)
        b.morph(riseKeys(style, p), duration: dRise)
        b.walk(distance: 2.5, speed: v, cadence: c, rampIn: true)
        let turnSlow = p.diagnosis == .parkinsons ? 1.5 : 1
        let dTurn = clamp(rng.normal(1.0, 0.08) * slow * turnSlow, 0.7, 6)
        let dir: Double = rng.chance(0.5) ? 1 : -1
        b.turn(180 * dir, duration: dTurn, cadence: c * 0.9, amp: 0.55)
        b.walk(distance: 2.5, speed: v, cadence: c, rampOut: true)
        b.turn(180 * dir, duration: dTurn * 0.9, cadence: c * 0.8, amp: 0.45)
        b.morph(sitKeys(style, p), duration: clamp(dRise * 1.2, 0.8, 6))
        b.hold(style.seatedPose(), duration: rng.uniform(0.6, 1.0), sway: 0.002)
        return b.frames
    }

    static func sitToStand(_ p: ParticipantProfile, _ style: GaitStyle, _ rate: Double, _ rng: inout SeededRandom) -> [Double] {
        let slow = slowness(p) * rng.normal(1, 0.06)
        var b = builder(style, rate, start: style.seatedPose(), &rng)
        b.hold(style.seatedPose(), duration: rng.uniform(0.6, 1.0), sway: 0.002)
        let reps = slow > 2.2 ? 1 : 2
        for r in 0..<reps {
            let d = clamp(rng.normal(1.1, 0.08) * slow, 0.8, 5)
            b.morph(riseKeys(style, p), duration: d)
            b.hold(style.standingPose(), duration: rng.uniform(0.5, 1.0) * slow, sway: 0.006)
            b.morph(sitKeys(style, p), duration: d * 1.15)
            b.hold(style.seatedPose(), duration: r == reps - 1 ? rng.uniform(0.6, 1.0) : rng.uniform(0.3, 0.6), sway: 0.002)
        }
        return b.frames
    }

    // MARK: standing and turning

    static func swayAmplitude(_ p: ParticipantProfile) -> Double {
        var sway = 0.005 + max(0, p.age - 60) * 0.0001
        switch p.diagnosis {
        case .parkinsons?, .tbi?: sway += 0.006 * (0.5 + p.severity)
        case .sci?, .stroke?: sway += 0.004 * (0.5 + p.severity)
        case .prosthesis?: sway += 0.003
        case nil: break
        }
        if p.device == .walker || p.device == .rollator { sway *= 0.6 }
        return sway
    }

    static func standing(_ p: ParticipantProfile, _ style: GaitStyle, _ rate: Double, _ rng: inout SeededRandom) -> [Double] {
        var pose = style.standingPose()
        if p.diagnosis == .stroke || p.diagnosis == .prosthesis {
            // Asymmetric weight bearing: the pelvis sits over the stronger leg.
            let toward: Double = p.affectedSide == .right ? -1 : 1
            pose[K.tz] -= toward * 0.025 * (0.5 + p.severity)
            pose[K.list] += toward * 2 * (0.5 + p.severity)
            let a = p.affectedSide == .right ? 0 : 1
            pose[K.knee[a]] -= 4 * p.severity
        }
        var b = builder(style, rate, start: pose, &rng)
        b.hold(pose, duration: rng.uniform(6, 8), sway: swayAmplitude(p))
        return b.frames
    }

    static func turning(_ p: ParticipantProfile, _ style: GaitStyle, _ rate: Double, _ rng: inout SeededRandom) -> [Double] {
        let slow = slowness(p)
        let pd = p.diagnosis == .parkinsons
        let d = clamp(rng.normal(2.3, 0.2) * slow * (pd ? 1.5 : 1), 1.6, 12)
        let c = cadence(p, speed: p.targetSpeed) * (pd ? 1.15 : 0.9)
        var b = builder(style, rate, start: style.standingPose(), &rng)
        b.hold(style.standingPose(), duration: rng.uniform(0.6, 1.0), sway: swayAmplitude(p))
        b.turn(rng.chance(0.5) ? 360 : -360, duration: d, cadence: c, amp: pd ? 0.35 : 0.5)
        b.hold(style.standingPose(), duration: rng.uniform(0.6, 1.0), sway: swayAmplitude(p))
        return b.frames
    }

    // MARK: Four Square Step Test

    static func fsst(_ p: ParticipantProfile, _ style: GaitStyle, _ rate: Double, _ rng: inout SeededRandom) -> [Double] {
        var st = style
        // Walkers and rollators cannot be carried over the sticks: the test is done without them.
        if st.device == .walker || st.device == .rollator { st.device = .none }
        let s = p.severity
        var balance: Double
        switch p.diagnosis {
        case nil: balance = 1 + max(0, p.age - 60) * 0.025
        case .stroke?: balance = 1 + 0.9 * (0.3 + s)
        case .prosthesis?: balance = 1 + (p.amputationLevel == .transfemoral ? 0.8 : 0.35) * (0.3 + s)
        case .sci?: balance = 1 + 0.9 * (0.3 + s)
        case .tbi?: balance = 1 + 0.7 * (0.3 + s)
        case .parkinsons?: balance = 1 + 0.6 * (0.3 + s)
        }
        balance *= rng.normal(1, 0.07)
        let dMove = (0.45 + 0.33 * pow(1.3 / p.targetSpeed, 0.8)) * balance
        let pause = 0.05 + 0.2 * (balance - 1)
        let clearance = p.diagnosis == .parkinsons ? 0.75 : 1
        let u = p.affectedSide == .right ? 1 : 0   // lead with the stronger leg forward/back
        let moves: [(Double, Int)] = [(0, u), (90, 0), (180, u), (-90, 1), (90, 0), (0, u), (-90, 1), (180, u)]
        var b = builder(st, rate, start: st.standingPose(), &rng)
        b.hold(st.standingPose(), duration: rng.uniform(0.7, 1.0), sway: swayAmplitude(p))
        for (dir, lead) in moves {
            b.fsstMove(direction: dir, lead: lead, duration: dMove * rng.normal(1, 0.05), clearance: clearance)
            b.hold(st.standingPose(), duration: max(0.03, pause * rng.normal(1, 0.2)), sway: swayAmplitude(p))
        }
        b.hold(st.standingPose(), duration: rng.uniform(0.7, 1.0), sway: swayAmplitude(p))
        return b.frames
    }

    // MARK: markerless-tracking noise

    /// White noise, slow drift (AR(1)) and a constant offset per channel, larger for wrists
    /// and forearm rotation (hard for video pose estimation), in degrees and metres.
    static func addTrackingNoise(_ values: inout [Double], channels n: Int, scale: Double, rng: inout SeededRandom) {
        guard scale > 0 else { return }
        let frames = values.count / n
        let quality = rng.uniform(0.7, 1.3) * scale
        let rho = 0.95, innov = (1 - rho * rho).squareRoot()
        for c in 0..<n {
            let name = K.names[c]
            var white = 0.8, drift = 1.3, bias = 1.0
            if c == K.tx || c == K.tz { white = 0.004; drift = 0.01; bias = 0 }
            if c == K.ty { white = 0.003; drift = 0.006; bias = 0.01 }
            if name.hasPrefix("wrist") || name.hasPrefix("pro_sup") { white *= 2.5; drift *= 2.5; bias *= 3 }
            if name.hasPrefix("subtalar") || name.hasPrefix("mtp") || name.hasPrefix("neck") { white *= 1.5; drift *= 1.5; bias *= 2 }
            let b = rng.nextGaussian() * bias * quality
            var d = rng.nextGaussian() * drift * quality
            for f in 0..<frames {
                d = rho * d + innov * drift * quality * rng.nextGaussian()
                values[f * n + c] += b + d + white * quality * rng.nextGaussian()
            }
        }
    }
}
