import BiomechCore
import Foundation

/// Indices of the 40 data-set channels (`BiomechModelPose.datasetChannelNames`).
enum K {
    static let names = BiomechModelPose.datasetChannelNames
    static let count = names.count
    static func i(_ n: String) -> Int { names.firstIndex(of: n)! }
    static let tx = i("pelvis_tx"), ty = i("pelvis_ty"), tz = i("pelvis_tz")
    static let tilt = i("pelvis_tilt"), list = i("pelvis_list"), rot = i("pelvis_rotation")
    static let hipFlex = [i("hip_flexion_r"), i("hip_flexion_l")]
    static let hipAdd = [i("hip_adduction_r"), i("hip_adduction_l")]
    static let hipRot = [i("hip_rotation_r"), i("hip_rotation_l")]
    static let knee = [i("knee_angle_r"), i("knee_angle_l")]
    static let ankle = [i("ankle_angle_r"), i("ankle_angle_l")]
    static let subtalar = [i("subtalar_angle_r"), i("subtalar_angle_l")]
    static let mtp = [i("mtp_angle_r"), i("mtp_angle_l")]
    static let lumbarExt = i("lumbar_extension"), lumbarBend = i("lumbar_bending"), lumbarRot = i("lumbar_rotation")
    static let neckFlex = i("neck_flexion"), neckBend = i("neck_bending"), neckRot = i("neck_rotation")
    static let armFlex = [i("arm_flex_r"), i("arm_flex_l")]
    static let armAdd = [i("arm_add_r"), i("arm_add_l")]
    static let armRot = [i("arm_rot_r"), i("arm_rot_l")]
    static let elbow = [i("elbow_flex_r"), i("elbow_flex_l")]
    static let proSup = [i("pro_sup_r"), i("pro_sup_l")]
    static let wristFlex = [i("wrist_flex_r"), i("wrist_flex_l")]
    static let wristDev = [i("wrist_dev_r"), i("wrist_dev_l")]
}

/// One frame of the 40 data-set channels. Pelvis tx/tz are offsets (forward, right) from
/// the walker's path position and `pelvis_rotation` an offset from the heading; the
/// `MotionBuilder` turns them into global coordinates.
typealias Pose = [Double]

@inline(__always) func lerp(_ a: Double, _ b: Double, _ t: Double) -> Double { a + (b - a) * t }
@inline(__always) func smoothstep(_ t: Double) -> Double { let x = clamp(t, 0, 1); return x * x * (3 - 2 * x) }
@inline(__always) func window(_ x: Double, _ a: Double, _ b: Double) -> Double {
    // 0 outside [a, b], a smooth bump of height 1 inside.
    guard x > a, x < b else { return 0 }
    let u = (x - a) / (b - a)
    let s = sin(Double.pi * u)
    return s * s
}

func blendPoses(_ a: Pose, _ b: Pose, _ t: Double) -> Pose {
    var out = a
    for k in 0..<a.count { out[k] = a[k] + (b[k] - a[k]) * t }
    return out
}

/// Normative sagittal and frontal joint angles over one gait cycle (heel strike at 0),
/// after Winter (1991) and Perry & Burnfield (2010), sampled into tables.
enum GaitTemplate {
    static let size = 400
    static func table(_ points: [(Double, Double)]) -> [Double] {
        // Periodic Catmull-Rom through the key points (percent of the cycle, degrees).
        var p = points.map { ($0.0 / 100, $0.1) }
        if p.last!.0 >= 1 { p.removeLast() }
        let n = p.count
        return (0..<size).map { s in
            let x = Double(s) / Double(size)
            var j = n - 1
            for k in 0..<n where p[k].0 <= x { j = k }
            let p1 = p[j], p2 = p[(j + 1) % n]
            let p0 = p[(j - 1 + n) % n], p3 = p[(j + 2) % n]
            let x1 = p1.0, x2 = p2.0 <= x1 ? p2.0 + 1 : p2.0
            let xx = x < x1 ? x + 1 : x
            let t = (xx - x1) / (x2 - x1)
            let t2 = t * t, t3 = t2 * t
            return 0.5 * ((2 * p1.1) + (-p0.1 + p2.1) * t + (2 * p0.1 - 5 * p1.1 + 4 * p2.1 - p3.1) * t2
                          + (-p0.1 + 3 * p1.1 - 3 * p2.1 + p3.1) * t3)
        }
    }
    static let hip = table([(0, 30), (10, 27), (30, 11), (50, -8), (56, -10), (63, -3), (75, 19), (87, 33), (100, 30)])
    static let knee = table([(0, 3), (6, 9), (15, 18), (27, 11), (40, 5), (50, 9), (60, 35), (68, 58), (73, 62), (80, 50), (90, 18), (97, 3), (100, 3)])
    static let ankle = table([(0, 0), (7, -6), (15, 0), (30, 7), (45, 11), (53, 6), (60, -10), (65, -17), (70, -13), (80, -1), (90, 1), (100, 0)])
    static let hipAdd = table([(0, 2), (15, 8), (30, 5), (50, 0), (62, -6), (75, -4), (90, 0), (100, 2)])
    static let hipRot = table([(0, 3), (20, 4), (50, -4), (70, -6), (90, 0), (100, 3)])
    static let subtalar = table([(0, -2), (10, 4), (40, 2), (60, -4), (80, 0), (100, -2)])
    static let mtp = table([(0, 0), (40, 4), (55, 22), (62, 28), (70, 5), (80, 0), (100, 0)])

    @inline(__always) static func at(_ t: [Double], _ phase: Double) -> Double {
        var x = phase - floor(phase)
        x *= Double(size)
        let i = Int(x) % size
        let f = x - floor(x)
        return t[i] + (t[(i + 1) % size] - t[i]) * f
    }
    static let hipMean = hip.reduce(0, +) / Double(size)
}

/// How one leg (and the arm on its side) deviates from the normative pattern.
struct SideGait: Sendable {
    var hipFlexScale = 1.0, hipFlexOffset = 0.0
    var kneeStanceScale = 1.0, kneeSwingScale = 1.0, kneeOffset = 0.0   // offset: extra flexion, degrees
    var anklePushoffScale = 1.0, ankleDorsiScale = 1.0, ankleSwingOffset = 0.0, ankleOffset = 0.0
    var circumduction = 0.0    // hip abduction added in swing, degrees
    var hipHike = 0.0          // pelvis raised on this side during its swing, degrees
    var stanceFraction = 0.6
    var vault = 0.0            // early heel rise (plantarflexion) in mid-stance of this leg
    var mtpScale = 1.0, subtalarScale = 1.0
    var hipAddOffset = 0.0, hipRotOffset = 0.0
    var armSwingScale = 1.0, armFlexOffset = 0.0, elbowOffset = 0.0, armAddOffset = 0.0
    var proSupOffset = 0.0, wristFlexOffset = 0.0
}

/// A person's way of moving: both sides, the trunk, timing variability and the device.
struct GaitStyle: Sendable {
    var side = [SideGait(), SideGait()]   // right, left
    var stepAsymmetry = 0.0      // left-leg phase offset beyond half a cycle
    var strideCV = 0.02          // stride-to-stride variability of stride time
    var amplitudeCV = 0.03       // stride-to-stride variability of joint excursions
    var trunkFlexion = 0.0       // forward trunk flexion, degrees
    var trunkLeanAmp = 0.0       // lateral trunk lean toward the stance leg, degrees
    var trunkLeanOffset = 0.0    // constant lateral bend (+: toward the right)
    var pelvisListScale = 1.0, pelvisRotScale = 1.0, pelvisTiltOffset = 0.0
    var stepWidth = 0.0          // extra hip abduction on both sides, degrees (wide base)
    var neckFlexion = 0.0
    var trunkRotationScale = 1.0
    var device = AssistiveDevice.none
    var deviceHand = 0           // 0 right hand, 1 left hand (cane)
    var standHeight = 0.93       // pelvis height standing, m
    var sitHeight = 0.52
    var height = 1.75
}

extension GaitStyle {
    /// The quiet-standing posture of this person.
    func standingPose() -> Pose {
        var p = Pose(repeating: 0, count: K.count)
        var crouch = 0.0
        for s in 0..<2 {
            let g = side[s]
            p[K.hipFlex[s]] = 2 + g.hipFlexOffset
            p[K.knee[s]] = -(3 + g.kneeOffset)
            p[K.ankle[s]] = 1 + g.ankleOffset + 0.3 * g.kneeOffset
            p[K.hipAdd[s]] = -1.5 - stepWidth * 0.5 + g.hipAddOffset
            p[K.hipRot[s]] = 2 + g.hipRotOffset
            p[K.armFlex[s]] = 3 + g.armFlexOffset
            p[K.armAdd[s]] = -8 + g.armAddOffset
            p[K.elbow[s]] = 15 + g.elbowOffset
            p[K.proSup[s]] = 60 + g.proSupOffset
            p[K.wristFlex[s]] = g.wristFlexOffset
            crouch += g.kneeOffset / 2
        }
        p[K.ty] = standHeight - 0.0025 * crouch
        p[K.tilt] = pelvisTiltOffset
        p[K.lumbarExt] = -trunkFlexion
        p[K.lumbarBend] = trunkLeanOffset
        p[K.neckFlex] = neckFlexion
        applyDevice(&p, swing: [0, 0], phase: 0)
        return p
    }

    /// The seated posture (on a chair of standard height).
    func seatedPose() -> Pose {
        var p = standingPose()
        for s in 0..<2 {
            p[K.hipFlex[s]] = 88 + side[s].hipFlexOffset * 0.3
            p[K.knee[s]] = -(side[s].kneeStanceScale < 0.3 ? 70 : 88)  // a prosthetic knee rests less flexed
            p[K.ankle[s]] = 6
            p[K.hipAdd[s]] = -3 - stepWidth * 0.3
            p[K.armFlex[s]] = 22 + side[s].armFlexOffset * 0.5
            p[K.elbow[s]] = 55 + side[s].elbowOffset * 0.5
            p[K.mtp[s]] = 0
        }
        p[K.ty] = sitHeight
        p[K.tilt] = 8
        p[K.lumbarExt] = -10 - trunkFlexion * 0.5
        p[K.tx] = -0.05
        return p
    }

    /// Arm and trunk changes of the device (held in both hands for walkers and crutches).
    func applyDevice(_ p: inout Pose, swing: [Double], phase: Double) {
        switch device {
        case .none: break
        case .cane:
            let h = deviceHand
            p[K.armFlex[h]] = 12 + 9 * swing[h]
            p[K.elbow[h]] = 28
            p[K.armAdd[h]] = -12
            p[K.proSup[h]] = 20
        case .crutches:
            for s in 0..<2 {
                p[K.armFlex[s]] = 18 + 14 * swing[s]
                p[K.elbow[s]] = 22 + 4 * swing[s]
                p[K.armAdd[s]] = -15
                p[K.proSup[s]] = 10
            }
        case .walker:
            for s in 0..<2 {
                p[K.armFlex[s]] = 35 + 4 * sin(2 * .pi * phase)
                p[K.elbow[s]] = 30 + 3 * sin(2 * .pi * phase)
                p[K.armAdd[s]] = -12
                p[K.proSup[s]] = 5
            }
        case .rollator:
            for s in 0..<2 {
                p[K.armFlex[s]] = 28 + 1.5 * sin(2 * .pi * phase)
                p[K.elbow[s]] = 25
                p[K.armAdd[s]] = -10
                p[K.proSup[s]] = 5
            }
        }
    }

    /// The pose at gait phases (right leg phase `phase`, in cycles) for a normalised speed
    /// `vn` (speed / 1.3 m/s) and an amplitude `amp` (1 steady walking, less for turning
    /// on the spot and gait initiation). `ampJitter` scales this stride's excursions.
    func gaitPose(phase: Double, vn: Double, amp: Double, ampJitter: Double) -> Pose {
        let stand = standingPose()
        var p = stand
        let phases = [phase, phase + 0.5 + stepAsymmetry]
        let v = clamp(vn, 0.2, 1.35)
        var swingWeight = [0.0, 0.0]
        var hipClean = [0.0, 0.0]
        for s in 0..<2 {
            let g = side[s]
            let phi = phases[s] - floor(phases[s])
            // Warp so that toe-off (60% of the template) falls at this leg's stance fraction.
            let sf = g.stanceFraction
            let psi = phi < sf ? 0.6 * phi / sf : 0.6 + 0.4 * (phi - sf) / (1 - sf)
            let sw = window(psi, 0.5, 1.04) + window(psi + 1, 0.5, 1.04)
            swingWeight[s] = sw
            let j = ampJitter
            let hipT = GaitTemplate.at(GaitTemplate.hip, psi)
            let hip = GaitTemplate.hipMean + (hipT - GaitTemplate.hipMean) * (0.45 + 0.55 * v) * g.hipFlexScale * j + g.hipFlexOffset
            hipClean[s] = (hipT - GaitTemplate.hipMean) / 21
            let kT = GaitTemplate.at(GaitTemplate.knee, psi)
            let swingPart = smoothstep((psi - 0.45) / 0.12) * (1 - smoothstep((psi - 0.92) / 0.08))
            let kneeFlex = kT * j * ((1 - swingPart) * g.kneeStanceScale * (0.45 + 0.55 * v)
                                     + swingPart * g.kneeSwingScale * (0.72 + 0.28 * v)) + g.kneeOffset + 2
            let aT = GaitTemplate.at(GaitTemplate.ankle, psi)
            var ankle = aT < 0 && psi > 0.45 && psi < 0.85 ? aT * g.anklePushoffScale * (0.55 + 0.45 * v) : aT * g.ankleDorsiScale
            ankle += g.ankleSwingOffset * sw + g.ankleOffset + 0.3 * g.kneeOffset - g.vault * window(psi, 0.15, 0.5)
            let add = GaitTemplate.at(GaitTemplate.hipAdd, psi) * (0.6 + 0.4 * v) - g.circumduction * sw
                - stepWidth * 0.5 + g.hipAddOffset - 1.5
            let hrot = GaitTemplate.at(GaitTemplate.hipRot, psi) * 0.8 + g.hipRotOffset
            let st = GaitTemplate.at(GaitTemplate.subtalar, psi) * g.subtalarScale
            let mtp = GaitTemplate.at(GaitTemplate.mtp, psi) * g.mtpScale * (0.6 + 0.4 * v)
            func mix(_ k: Int, _ value: Double) { p[k] = stand[k] + (value - stand[k]) * amp }
            mix(K.hipFlex[s], hip)
            mix(K.knee[s], -kneeFlex)
            mix(K.ankle[s], ankle)
            mix(K.hipAdd[s], add)
            mix(K.hipRot[s], hrot)
            mix(K.subtalar[s], st)
            mix(K.mtp[s], mtp)
        }
        let phi = phase - floor(phase)
        let twoPi = 2 * Double.pi
        let list = pelvisListScale * 4 * sin(twoPi * phi) * (0.6 + 0.4 * v)
            + side[0].hipHike * swingWeight[0] - side[1].hipHike * swingWeight[1]
        let rot = pelvisRotScale * 5 * cos(twoPi * phi) * (0.5 + 0.5 * v)
        p[K.list] = stand[K.list] + list * amp
        p[K.rot] = stand[K.rot] + rot * amp
        p[K.tilt] = stand[K.tilt] + 1.5 * cos(2 * twoPi * phi) * amp
        p[K.ty] = stand[K.ty] - 0.012 * (0.5 + v) * cos(2 * twoPi * phi) * amp
        p[K.tz] = stand[K.tz] + 0.018 * (1 + stepWidth / 6) * sin(twoPi * phi) * amp
        p[K.lumbarExt] = stand[K.lumbarExt] + 1.5 * cos(2 * twoPi * phi) * amp
        p[K.lumbarBend] = stand[K.lumbarBend] + (-0.6 * list + trunkLeanAmp * sin(twoPi * phi)) * amp
        p[K.lumbarRot] = stand[K.lumbarRot] - 0.7 * rot * trunkRotationScale * amp
        p[K.neckRot] = -0.3 * p[K.lumbarRot]
        p[K.neckBend] = -0.4 * p[K.lumbarBend]
        // Arms swing opposite to the leg on their side.
        var swing = [0.0, 0.0]
        for s in 0..<2 {
            let g = side[s]
            swing[s] = -hipClean[s]
            let a = 13 * g.armSwingScale * (0.45 + 0.55 * v) * amp
            p[K.armFlex[s]] = stand[K.armFlex[s]] + a * swing[s]
            p[K.elbow[s]] = stand[K.elbow[s]] + 7 * g.armSwingScale * max(swing[s], 0) * amp
            p[K.armRot[s]] = stand[K.armRot[s]] + 3 * swing[s] * amp
        }
        applyDevice(&p, swing: swing, phase: phi)
        return p
    }
}

extension GaitStyle {
    /// Builds a person's movement style from their profile (diagnosis, severity, device),
    /// with per-participant variability.
    static func make(for profile: ParticipantProfile, rng: inout SeededRandom) -> GaitStyle {
        var st = GaitStyle()
        st.height = profile.height
        st.standHeight = 0.53 * profile.height
        st.sitHeight = 0.30 * profile.height
        st.device = profile.device
        let a = profile.affectedSide == .right ? 0 : 1   // affected
        let u = 1 - a                                    // unaffected
        let s = profile.severity
        // Everyone differs a little.
        for k in 0..<2 {
            st.side[k].hipFlexScale = rng.normal(1, 0.07)
            st.side[k].kneeSwingScale = rng.normal(1, 0.07)
            st.side[k].kneeStanceScale = rng.normal(1, 0.15)
            st.side[k].anklePushoffScale = rng.normal(1, 0.1)
            st.side[k].hipFlexOffset = rng.normal(0, 2.5)
            st.side[k].kneeOffset = rng.normal(0, 2)
            st.side[k].ankleOffset = rng.normal(0, 2)
            st.side[k].hipAddOffset = rng.normal(0, 1.5)
            st.side[k].hipRotOffset = rng.normal(0, 4)
            st.side[k].armSwingScale = clamp(rng.normal(1, 0.22), 0.4, 1.6)
            st.side[k].armFlexOffset = rng.normal(0, 3)
            st.side[k].elbowOffset = rng.normal(0, 5)
        }
        st.trunkFlexion = rng.normal(2, 2.5)
        st.pelvisTiltOffset = rng.normal(-3, 3)
        st.neckFlexion = rng.normal(5, 4)
        st.stepWidth = rng.normal(0, 1.2)
        st.strideCV = abs(rng.normal(0.02, 0.006))
        if profile.age > 70 { st.trunkFlexion += (profile.age - 70) * 0.3; st.strideCV += 0.01 }

        switch profile.diagnosis {
        case nil: break
        case .stroke?:
            st.side[a].kneeSwingScale *= 1 - 0.6 * s
            st.side[a].kneeStanceScale *= 1 - 0.5 * s
            st.side[a].hipFlexScale *= 1 - 0.35 * s
            st.side[a].circumduction = 4 + 10 * s
            st.side[a].hipHike = 2 + 5 * s
            st.side[a].ankleSwingOffset = -(4 + 10 * s)
            st.side[a].anklePushoffScale *= 1 - 0.6 * s
            st.side[a].stanceFraction = 0.6 - 0.06 * s
            st.side[u].stanceFraction = 0.62 + 0.08 * s
            st.stepAsymmetry = (0.03 + 0.08 * s) * (a == 0 ? 1 : -1)
            st.side[a].armSwingScale = 0.15
            st.side[a].elbowOffset += 35 + 45 * s
            st.side[a].armFlexOffset += 6
            st.side[a].armAddOffset = 10
            st.side[a].proSupOffset = -40
            st.side[a].wristFlexOffset = 20 + 25 * s
            st.trunkLeanOffset = (a == 0 ? -1 : 1) * 3 * s
            st.trunkLeanAmp = 2 * s
            st.strideCV += 0.02 * s
        case .prosthesis?:
            if profile.amputationLevel == .transfemoral {
                st.side[a].kneeStanceScale = 0.1
                st.side[a].kneeSwingScale = 0.85 - 0.3 * s
                st.side[a].ankleDorsiScale = 0.4
                st.side[a].anklePushoffScale = 0.25
                st.side[a].mtpScale = 0
                st.side[a].subtalarScale = 0
                st.side[a].circumduction = 3 + 8 * s
                st.side[a].hipHike = 2 + 5 * s
                st.side[a].hipFlexOffset += 5
                st.side[u].vault = 4 + 8 * s
                st.side[a].stanceFraction = 0.56
                st.side[u].stanceFraction = 0.66
                st.stepAsymmetry = (0.03 + 0.05 * s) * (a == 0 ? 1 : -1)
                st.trunkLeanAmp = 3 + 5 * s
                st.side[a].kneeOffset = -1
            } else {
                st.side[a].kneeStanceScale *= 0.6
                st.side[a].kneeSwingScale *= 0.92
                st.side[a].ankleDorsiScale = 0.5
                st.side[a].anklePushoffScale = 0.35
                st.side[a].mtpScale = 0
                st.side[a].subtalarScale = 0
                st.side[a].circumduction = 1 + 3 * s
                st.side[u].vault = 2 * s
                st.side[a].stanceFraction = 0.58
                st.side[u].stanceFraction = 0.63
                st.stepAsymmetry = (0.01 + 0.03 * s) * (a == 0 ? 1 : -1)
                st.trunkLeanAmp = 1 + 2 * s
            }
            st.side[a].armSwingScale *= 0.85
        case .sci?:
            for k in 0..<2 {
                let sk = k == a ? s : s * 0.7
                st.side[k].kneeOffset += 10 + 16 * sk
                st.side[k].hipFlexOffset += 5 + 10 * sk
                st.side[k].kneeSwingScale *= 1 - 0.45 * sk
                st.side[k].anklePushoffScale *= 1 - 0.6 * sk
                st.side[k].ankleSwingOffset = -4 * sk
                st.side[k].ankleOffset += 3 + 4 * sk
                st.side[k].circumduction = 2 + 4 * sk
                st.side[k].armSwingScale *= 0.7
            }
            st.stepWidth += 3 + 4 * s
            st.trunkFlexion += 5 + 8 * s
            st.strideCV += 0.02
            st.stepAsymmetry = 0.02 * s * (a == 0 ? 1 : -1)
        case .tbi?:
            st.strideCV += 0.04 + 0.07 * s
            st.amplitudeCV = 0.07 + 0.1 * s
            st.stepWidth += 4 + 5 * s
            st.trunkLeanAmp = 2 + 3 * s
            for k in 0..<2 {
                st.side[k].kneeSwingScale *= 1 - 0.2 * s
                st.side[k].hipFlexScale *= 1 - 0.15 * s
                st.side[k].armSwingScale *= rng.uniform(0.5, 1.0)
            }
            st.side[a].kneeSwingScale *= 1 - 0.15 * s
            st.pelvisListScale = 1.3
        case .parkinsons?:
            for k in 0..<2 {
                let sk = k == a ? s : s * 0.6
                st.side[k].hipFlexScale *= 0.68 - 0.2 * sk
                st.side[k].kneeSwingScale *= 0.82 - 0.25 * sk
                st.side[k].kneeOffset += 7 + 10 * sk
                st.side[k].hipFlexOffset += 6 + 8 * sk
                st.side[k].anklePushoffScale *= 0.55 - 0.2 * sk
                st.side[k].ankleDorsiScale = 0.7
                st.side[k].ankleSwingOffset = -3
                st.side[k].mtpScale = 0.5
                st.side[k].armSwingScale *= 0.4 - 0.3 * sk
                st.side[k].elbowOffset += 15 + 15 * sk
            }
            st.trunkFlexion += 10 + 12 * s
            st.neckFlexion += 10 + 10 * s
            st.pelvisRotScale = 0.5
            st.trunkRotationScale = 0.3
            st.strideCV += 0.01 + 0.03 * s
        }
        switch profile.device {
        case .none: break
        case .cane:
            // The cane is held on the side opposite the affected leg.
            st.deviceHand = profile.diagnosis == nil ? (rng.chance(0.5) ? 0 : 1) : u
            st.trunkLeanOffset += st.deviceHand == 0 ? 2 : -2
        case .crutches: st.trunkFlexion += 4
        case .walker:
            st.trunkFlexion += 10
            st.side[0].hipFlexOffset += 6; st.side[1].hipFlexOffset += 6
            st.stepWidth += 2
        case .rollator: st.trunkFlexion += 6
        }
        return st
    }
}
