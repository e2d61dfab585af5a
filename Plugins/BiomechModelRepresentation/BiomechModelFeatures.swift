import BiomechCore
import Foundation
import MotionData

/// The paper's representation: the 41-number biomech-model pose (pelvis position 3,
/// pelvis orientation quaternion 4, 34 joint angles), with its preprocessing as options.
///
/// Pipeline of `features(of:)`: map source names onto the model (mask what the source
/// lacks) → knee sign convention → angle unwrapping → resampling to `target_frame_rate` →
/// pelvis Euler angles to a quaternion (sign-continuous) → drop pelvis translation / zero
/// wrists and mtp → per-channel normalisation fitted on the training split.
public final class BiomechModelFeatures: MotionRepresentation, @unchecked Sendable {
    public static let descriptor = PluginDescriptor(
        id: "biomech-model", kind: .representation,
        summary: "The paper's 41-number pose (pelvis position, pelvis quaternion, 34 joint angles) from OpenSim / LocoMuJoCo coordinates",
        parameters: [
            ParameterSpec("drop_pelvis_translation", "bool", default: "true", "drop pelvis position (and so its velocity), as the paper does"),
            ParameterSpec("zero_wrists", "bool", default: "true", "zero wrist flexion, deviation and pronation-supination (paper)"),
            ParameterSpec("zero_mtp", "bool", default: "true", "zero the metatarsophalangeal joints (paper)"),
            ParameterSpec("target_frame_rate", "double", default: "30", "resample every trial to this rate in Hz (0: keep the trial's rate)"),
            ParameterSpec("unwrap_angles", "bool", default: "true", "remove ±360° jumps in angle channels"),
            ParameterSpec("knee_convention", "auto|flexion_negative|flexion_positive", default: "auto",
                          "sign of knee flexion in the source (Gait2392/LocoMuJoCo negative, Rajagopal/OpenCap positive; auto: by the median)"),
            ParameterSpec("min_frames", "int", default: "4", "reject trials shorter than this after resampling"),
        ])

    public struct Options: Sendable, Codable, Equatable {
        public var dropPelvisTranslation = true
        public var zeroWrists = true
        public var zeroMTP = true
        public var targetFrameRate = 30.0
        public var unwrapAngles = true
        public var kneeConvention = "auto"
        public var minFrames = 4
        public init() {}
    }

    public let options: Options
    public let channelNames: [String]
    private var normalizer: ChannelNormalizer?
    public var isFitted: Bool { normalizer != nil }

    public init(options: Options = Options()) {
        self.options = options
        channelNames = BiomechModelPose.channelNames.filter { !(options.dropPelvisTranslation && BiomechModelPose.pelvisTranslation.contains($0)) }
    }

    public static func make(_ p: PluginParameters) throws -> BiomechModelFeatures {
        var o = Options()
        o.dropPelvisTranslation = try p.bool("drop_pelvis_translation", default: true)
        o.zeroWrists = try p.bool("zero_wrists", default: true)
        o.zeroMTP = try p.bool("zero_mtp", default: true)
        o.targetFrameRate = try p.double("target_frame_rate", default: 30)
        guard o.targetFrameRate >= 0, o.targetFrameRate.isFinite else {
            throw p.error("target_frame_rate", "expected 0 (keep) or a positive rate in Hz, got \(o.targetFrameRate)")
        }
        o.unwrapAngles = try p.bool("unwrap_angles", default: true)
        o.kneeConvention = try p.choice("knee_convention", from: ["auto", "flexion_negative", "flexion_positive"], default: "auto")
        o.minFrames = try p.positiveInt("min_frames", default: 4)
        return BiomechModelFeatures(options: o)
    }

    /// The preprocessed, not yet normalised features of a trial.
    public func preprocess(_ trial: Trial) throws -> FeatureMatrix {
        let src = BiomechModelMapping.sourceIndices(for: trial)
        let dsNames = BiomechModelPose.datasetChannelNames
        guard src.enumerated().contains(where: { $0.element != nil && !dsNames[$0.offset].hasPrefix("pelvis") }) else {
            throw InputError(file: trial.sourceFile, field: trial.id,
                             "none of the trial's channels maps onto the biomech model (expected OpenSim / LocoMuJoCo names such as hip_flexion_r, knee_angle_r)",
                             allowed: Array(BiomechModelPose.jointAngles.prefix(8)) + ["…"])
        }
        // 1. Source columns in canonical units (degrees, metres).
        var cols: [[Double]?] = src.enumerated().map { k, i in
            guard let i else { return nil }
            let unit = trial.channels[i].unit
            let scale = unit == .radians ? 180 / Double.pi : 1
            return trial.column(i).map { Double($0) * scale }
        }
        guard trial.frameCount > 0 else {
            throw InputError(file: trial.sourceFile, field: trial.id, "the trial has no frames")
        }
        // 2. Knee sign convention.
        for name in ["knee_angle_r", "knee_angle_l"] {
            let k = dsNames.firstIndex(of: name)!
            guard var c = cols[k] else { continue }
            var positive = options.kneeConvention == "flexion_positive"
            if options.kneeConvention == "auto" {
                let sorted = c.sorted()
                positive = sorted[sorted.count / 2] > 5
            }
            if positive { for f in c.indices { c[f] = -c[f] } ; cols[k] = c }
        }
        // 3. Unwrap angles.
        if options.unwrapAngles {
            for k in cols.indices where cols[k] != nil && !BiomechModelPose.pelvisTranslation.contains(dsNames[k]) {
                SignalOps.unwrapDegrees(&cols[k]!)
            }
        }
        // 4. Resample.
        var rate = trial.frameRate
        if options.targetFrameRate > 0 && abs(options.targetFrameRate - rate) > 1e-9 {
            for k in cols.indices where cols[k] != nil { cols[k] = SignalOps.resample(cols[k]!, from: rate, to: options.targetFrameRate) }
            rate = options.targetFrameRate
        }
        let frames = cols.compactMap { $0?.count }.first ?? 0
        guard frames >= options.minFrames else {
            throw InputError(file: trial.sourceFile, field: trial.id,
                             "\(frames) frames after resampling to \(rate) Hz; at least \(options.minFrames) are needed")
        }
        // 5. Assemble the 41-channel pose.
        let all = BiomechModelPose.channelNames
        var full = [Double](repeating: 0, count: frames * all.count)
        var observed = [Bool](repeating: false, count: all.count)
        func ds(_ n: String) -> [Double]? { cols[dsNames.firstIndex(of: n)!] }
        let tx = ds("pelvis_tx"), ty = ds("pelvis_ty"), tz = ds("pelvis_tz")
        for (k, c) in [tx, ty, tz].enumerated() {
            guard let c else { continue }
            observed[k] = true
            // Horizontal position relative to the first frame; height as recorded.
            let origin = k == 1 ? 0 : c[0]
            for f in 0..<frames { full[f * all.count + k] = c[f] - origin }
        }
        let tilt = ds("pelvis_tilt"), list = ds("pelvis_list"), rot = ds("pelvis_rotation")
        if tilt != nil || list != nil || rot != nil {
            for k in 3..<7 { observed[k] = true }
            var prev = (1.0, 0.0, 0.0, 0.0)
            for f in 0..<frames {
                var q = BiomechModelMapping.quaternion(tilt: tilt?[f] ?? 0, list: list?[f] ?? 0, rotation: rot?[f] ?? 0)
                let dot = q.0 * prev.0 + q.1 * prev.1 + q.2 * prev.2 + q.3 * prev.3
                if (f == 0 && q.0 < 0) || (f > 0 && dot < 0) { q = (-q.0, -q.1, -q.2, -q.3) }
                prev = q
                let b = f * all.count
                full[b + 3] = q.0; full[b + 4] = q.1; full[b + 5] = q.2; full[b + 6] = q.3
            }
        } else {
            for f in 0..<frames { full[f * all.count + 3] = 1 }
        }
        for (j, name) in BiomechModelPose.jointAngles.enumerated() {
            guard let c = ds(name) else { continue }
            let k = 7 + j
            if options.zeroWrists && BiomechModelPose.wristChannels.contains(name) { continue }
            if options.zeroMTP && BiomechModelPose.mtpChannels.contains(name) { continue }
            observed[k] = true
            for f in 0..<frames { full[f * all.count + k] = c[f] }
        }
        // 6. Keep the output channels.
        let keep = channelNames.map { all.firstIndex(of: $0)! }
        var values = [Float](repeating: 0, count: frames * keep.count)
        for f in 0..<frames {
            for (o, k) in keep.enumerated() { values[f * keep.count + o] = Float(full[f * all.count + k]) }
        }
        return FeatureMatrix(channelNames: channelNames, observed: keep.map { observed[$0] }, frameRate: rate, values: values)
    }

    public func fit(training: [Trial]) throws {
        guard !training.isEmpty else { throw InputError(field: "representation", "cannot fit the normalisation on an empty training split") }
        normalizer = ChannelNormalizer.fit(try training.map(preprocess), channelNames: channelNames)
    }

    public func features(of trial: Trial) throws -> FeatureMatrix {
        guard let normalizer else { throw InputError(field: "representation", "biomech-model: call fit(training:) or load(from:) before features(of:)") }
        return normalizer.normalize(try preprocess(trial))
    }

    public func angles(from features: FeatureMatrix) throws -> FeatureMatrix {
        guard let normalizer else { throw InputError(field: "representation", "biomech-model: call fit(training:) or load(from:) before angles(from:)") }
        guard features.channelNames == channelNames else {
            throw InputError(field: "features", "channels do not match the representation's (\(features.channelCount) vs \(channelNames.count))")
        }
        var out = normalizer.denormalize(features)
        // Renormalise the quaternion.
        if let w = channelNames.firstIndex(of: "pelvis_qw"), features.observed[w] {
            let c = channelNames.count
            for f in 0..<out.frameCount {
                let b = f * c + w
                let n = (0..<4).map { Double(out.values[b + $0]) }.map { $0 * $0 }.reduce(0, +).squareRoot()
                if n > 1e-9 { for k in 0..<4 { out.values[b + k] = Float(Double(out.values[b + k]) / n) } }
            }
        }
        return out
    }

    struct State: Codable {
        var id: String
        var options: Options
        var normalizer: ChannelNormalizer
    }

    public static let stateFile = "representation.json"

    public func save(to directory: URL) throws {
        guard let normalizer else { throw InputError(field: "representation", "biomech-model: nothing to save before fit(training:)") }
        try AtomicFile.writeJSON(State(id: Self.descriptor.id, options: options, normalizer: normalizer),
                                 to: directory.appendingPathComponent(Self.stateFile))
    }

    public func load(from directory: URL) throws {
        let url = directory.appendingPathComponent(Self.stateFile)
        let s = try SignalOps.readJSON(State.self, from: url)
        guard s.id == Self.descriptor.id else { throw InputError(file: url.path, field: "id", "saved by representation '\(s.id)', not 'biomech-model'") }
        guard s.options == options else {
            throw InputError(file: url.path, field: "options", "saved with different preprocessing options than this recipe's")
        }
        guard s.normalizer.channelNames == channelNames else {
            throw InputError(file: url.path, field: "normalizer.channelNames", "saved channels differ from this representation's")
        }
        normalizer = s.normalizer
    }
}
