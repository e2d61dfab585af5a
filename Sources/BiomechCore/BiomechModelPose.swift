/// The paper's biomechanical-model pose: 41 numbers per frame.
///
/// Pelvis position (3, metres), pelvis orientation as a unit quaternion (4), and 34 joint
/// angles (degrees) named as in OpenSim's Gait2392 / Rajagopal models and the LocoMuJoCo
/// humanoid. Data sets store the pelvis orientation as OpenSim's three Euler angles
/// (`pelvis_tilt`, `pelvis_list`, `pelvis_rotation`, degrees; `datasetChannelNames`, 40
/// channels); the `biomech-model` representation turns them into the quaternion.
///
/// Sign conventions follow OpenSim Gait2392 and LocoMuJoCo: hip flexion, ankle
/// dorsiflexion and lumbar extension positive; knee flexion negative (`knee_angle` runs
/// from about -120 in deep flexion to 0 at full extension); X forward, Y up, Z right.
public enum BiomechModelPose {
    public static let pelvisTranslation = ["pelvis_tx", "pelvis_ty", "pelvis_tz"]
    public static let pelvisQuaternion = ["pelvis_qw", "pelvis_qx", "pelvis_qy", "pelvis_qz"]
    public static let pelvisEuler = ["pelvis_tilt", "pelvis_list", "pelvis_rotation"]

    /// The 34 joint angles, in order.
    public static let jointAngles: [String] = [
        "hip_flexion_r", "hip_adduction_r", "hip_rotation_r",
        "hip_flexion_l", "hip_adduction_l", "hip_rotation_l",
        "knee_angle_r", "knee_angle_l",
        "ankle_angle_r", "ankle_angle_l",
        "subtalar_angle_r", "subtalar_angle_l",
        "mtp_angle_r", "mtp_angle_l",
        "lumbar_extension", "lumbar_bending", "lumbar_rotation",
        "neck_flexion", "neck_bending", "neck_rotation",
        "arm_flex_r", "arm_add_r", "arm_rot_r",
        "arm_flex_l", "arm_add_l", "arm_rot_l",
        "elbow_flex_r", "elbow_flex_l",
        "pro_sup_r", "pro_sup_l",
        "wrist_flex_r", "wrist_dev_r", "wrist_flex_l", "wrist_dev_l",
    ]

    /// The 41 channels of the model pose, in order.
    public static let channelNames: [String] = pelvisTranslation + pelvisQuaternion + jointAngles

    /// The 40 channels a data set stores for this model (pelvis orientation as Euler angles).
    public static let datasetChannelNames: [String] = pelvisTranslation + pelvisEuler + jointAngles

    /// The data-set channels with their units.
    public static var datasetChannels: [Channel] {
        datasetChannelNames.map { Channel($0, unit: $0.hasPrefix("pelvis_t") && $0.count == 9 ? .meters : .degrees) }
    }

    public static let wristChannels = ["wrist_flex_r", "wrist_dev_r", "wrist_flex_l", "wrist_dev_l", "pro_sup_r", "pro_sup_l"]
    public static let mtpChannels = ["mtp_angle_r", "mtp_angle_l"]
}
