import BiomechCore
import Foundation

/// Maps source coordinate names (OpenSim Gait2392, Rajagopal / Hamner, OpenCap's
/// LaiUhlrich2022, Gait10dof18musc; LocoMuJoCo's humanoid with or without `q_`; FGDI and
/// the simulated cohort, which already use these names) onto the biomech-model channels.
public enum BiomechModelMapping {
    /// Alternative names a source may use for a canonical channel.
    public static let aliases: [String: [String]] = {
        var a: [String: [String]] = [:]
        for n in BiomechModelPose.datasetChannelNames { a[n] = [n, "q_" + n] }
        // Model-specific spellings.
        a["neck_flexion", default: []] += ["neck_extension_flexion", "neck_flex", "head_flexion"]
        a["neck_bending", default: []] += ["neck_lateral_bending", "neck_bend", "head_bending"]
        a["neck_rotation", default: []] += ["neck_axial_rotation", "neck_rot", "head_rotation"]
        a["pro_sup_r", default: []] += ["pronation_supination_r", "pro_sup_right"]
        a["pro_sup_l", default: []] += ["pronation_supination_l", "pro_sup_left"]
        a["elbow_flex_r", default: []] += ["elbow_flexion_r"]
        a["elbow_flex_l", default: []] += ["elbow_flexion_l"]
        a["arm_flex_r", default: []] += ["shoulder_flex_r", "shoulder_flexion_r"]
        a["arm_flex_l", default: []] += ["shoulder_flex_l", "shoulder_flexion_l"]
        a["arm_add_r", default: []] += ["shoulder_add_r", "shoulder_adduction_r"]
        a["arm_add_l", default: []] += ["shoulder_add_l", "shoulder_adduction_l"]
        a["arm_rot_r", default: []] += ["shoulder_rot_r", "shoulder_rotation_r"]
        a["arm_rot_l", default: []] += ["shoulder_rot_l", "shoulder_rotation_l"]
        a["wrist_flex_r", default: []] += ["wrist_flexion_r"]
        a["wrist_flex_l", default: []] += ["wrist_flexion_l"]
        a["wrist_dev_r", default: []] += ["wrist_deviation_r"]
        a["wrist_dev_l", default: []] += ["wrist_deviation_l"]
        a["knee_angle_r", default: []] += ["knee_flexion_r"]
        a["knee_angle_l", default: []] += ["knee_flexion_l"]
        return a
    }()

    /// For each data-set channel (`BiomechModelPose.datasetChannelNames`), the index of the
    /// source channel that provides it, if any.
    public static func sourceIndices(for trial: Trial) -> [Int?] {
        var byName: [String: Int] = [:]
        for (i, c) in trial.channels.enumerated() where byName[c.name] == nil { byName[c.name] = i }
        return BiomechModelPose.datasetChannelNames.map { name in
            for alias in aliases[name] ?? [name] { if let i = byName[alias] { return i } }
            return nil
        }
    }

    /// The unit quaternion (w, x, y, z) of OpenSim's pelvis orientation: body-fixed
    /// rotations pelvis_tilt about Z, then pelvis_list about X, then pelvis_rotation about Y
    /// (Gait2392 / Rajagopal / LocoMuJoCo), angles in degrees.
    public static func quaternion(tilt: Double, list: Double, rotation: Double) -> (Double, Double, Double, Double) {
        let d = Double.pi / 360  // half-angle in radians per degree
        let qz = (cos(tilt * d), 0.0, 0.0, sin(tilt * d))
        let qx = (cos(list * d), sin(list * d), 0.0, 0.0)
        let qy = (cos(rotation * d), 0.0, sin(rotation * d), 0.0)
        return multiply(multiply(qz, qx), qy)
    }

    static func multiply(_ a: (Double, Double, Double, Double), _ b: (Double, Double, Double, Double)) -> (Double, Double, Double, Double) {
        (a.0 * b.0 - a.1 * b.1 - a.2 * b.2 - a.3 * b.3,
         a.0 * b.1 + a.1 * b.0 + a.2 * b.3 - a.3 * b.2,
         a.0 * b.2 - a.1 * b.3 + a.2 * b.0 + a.3 * b.1,
         a.0 * b.3 + a.1 * b.2 - a.2 * b.1 + a.3 * b.0)
    }

    /// The inverse of `quaternion`: (tilt, list, rotation) in degrees for R = Rz·Rx·Ry.
    public static func euler(w: Double, x: Double, y: Double, z: Double) -> (tilt: Double, list: Double, rotation: Double) {
        let n = (w * w + x * x + y * y + z * z).squareRoot()
        let (w, x, y, z) = n > 0 ? (w / n, x / n, y / n, z / n) : (1, 0, 0, 0)
        // Rotation matrix entries of R = Rz(a) Rx(b) Ry(c).
        let r21 = 2 * (y * z + w * x)            // = sin b
        let r20 = 2 * (x * z - w * y)            // = -cos b sin c
        let r22 = 1 - 2 * (x * x + y * y)        // = cos b cos c
        let r01 = 2 * (x * y - w * z)            // = -sin a cos b
        let r11 = 1 - 2 * (x * x + z * z)        // = cos a cos b
        let b = asin(max(-1, min(1, r21)))
        let c = atan2(-r20, r22)
        let a = atan2(-r01, r11)
        let k = 180 / Double.pi
        return (a * k, b * k, c * k)
    }
}
