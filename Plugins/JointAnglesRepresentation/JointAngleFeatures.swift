import BiomechCore
import Foundation
import MotionData

/// Any named channels as they are (Kinect angles, FGDI curves, custom skeletons):
/// the listed channels (or every channel seen in training), optionally resampled and
/// unwrapped, normalised per channel on the training split. A channel a trial lacks is
/// zero and unobserved.
public final class JointAngleFeatures: MotionRepresentation, @unchecked Sendable {
    public static let descriptor = PluginDescriptor(
        id: "joint-angles", kind: .representation,
        summary: "Named channels as they are (e.g. Kinect joint angles), normalised per channel",
        parameters: [
            ParameterSpec("channels", "[string]", default: "[]", "channels to use, in order (empty: every channel of the training trials, in first-seen order)"),
            ParameterSpec("target_frame_rate", "double", default: "0", "resample to this rate in Hz (0: keep the trial's rate)"),
            ParameterSpec("unwrap_angles", "bool", default: "false", "remove ±360° jumps in channels measured in degrees"),
            ParameterSpec("min_frames", "int", default: "4", "reject trials shorter than this"),
        ])

    public private(set) var channelNames: [String]
    public let targetFrameRate: Double
    public let unwrapAngles: Bool
    public let minFrames: Int
    private let fixedChannels: Bool
    private var normalizer: ChannelNormalizer?
    public var isFitted: Bool { normalizer != nil }

    public init(channels: [String] = [], targetFrameRate: Double = 0, unwrapAngles: Bool = false, minFrames: Int = 4) {
        channelNames = channels; fixedChannels = !channels.isEmpty
        self.targetFrameRate = targetFrameRate; self.unwrapAngles = unwrapAngles; self.minFrames = minFrames
    }

    public static func make(_ p: PluginParameters) throws -> JointAngleFeatures {
        let rate = try p.double("target_frame_rate", default: 0)
        guard rate >= 0, rate.isFinite else { throw p.error("target_frame_rate", "expected 0 (keep) or a positive rate in Hz") }
        let channels = try p.strings("channels", default: [])
        guard Set(channels).count == channels.count else { throw p.error("channels", "a channel is listed twice") }
        return JointAngleFeatures(channels: channels, targetFrameRate: rate,
                                         unwrapAngles: try p.bool("unwrap_angles", default: false),
                                         minFrames: try p.positiveInt("min_frames", default: 4))
    }

    public func preprocess(_ trial: Trial) throws -> FeatureMatrix {
        guard !channelNames.isEmpty else { throw InputError(field: "representation", "joint-angles: no channels (fit first or list them)") }
        var byName: [String: Int] = [:]
        for (i, c) in trial.channels.enumerated() where byName[c.name] == nil { byName[c.name] = i }
        let idx = channelNames.map { byName[$0] }
        guard idx.contains(where: { $0 != nil }) else {
            throw InputError(file: trial.sourceFile, field: trial.id, "the trial has none of the representation's channels",
                             allowed: Array(channelNames.prefix(10)))
        }
        var rate = trial.frameRate
        let resample = targetFrameRate > 0 && abs(targetFrameRate - rate) > 1e-9
        var cols: [[Double]?] = idx.map { i in
            guard let i else { return nil }
            var c = trial.column(i).map(Double.init)
            if unwrapAngles && trial.channels[i].unit == .degrees { SignalOps.unwrapDegrees(&c) }
            if resample { c = SignalOps.resample(c, from: trial.frameRate, to: targetFrameRate) }
            return c
        }
        if resample { rate = targetFrameRate }
        let frames = cols.compactMap { $0?.count }.first ?? 0
        guard frames >= minFrames else {
            throw InputError(file: trial.sourceFile, field: trial.id, "\(frames) frames; at least \(minFrames) are needed")
        }
        let c = channelNames.count
        var values = [Float](repeating: 0, count: frames * c)
        for k in 0..<c {
            guard let col = cols[k] else { continue }
            for f in 0..<frames { values[f * c + k] = Float(col[f]) }
        }
        cols.removeAll()
        return FeatureMatrix(channelNames: channelNames, observed: idx.map { $0 != nil }, frameRate: rate, values: values)
    }

    public func fit(training: [Trial]) throws {
        guard !training.isEmpty else { throw InputError(field: "representation", "cannot fit the normalisation on an empty training split") }
        if !fixedChannels {
            var seen = Set<String>(), names: [String] = []
            for t in training { for ch in t.channels where seen.insert(ch.name).inserted { names.append(ch.name) } }
            channelNames = names
        }
        normalizer = ChannelNormalizer.fit(try training.map(preprocess), channelNames: channelNames)
    }

    public func features(of trial: Trial) throws -> FeatureMatrix {
        guard let normalizer else { throw InputError(field: "representation", "joint-angles: call fit(training:) or load(from:) first") }
        return normalizer.normalize(try preprocess(trial))
    }

    public func angles(from features: FeatureMatrix) throws -> FeatureMatrix {
        guard let normalizer else { throw InputError(field: "representation", "joint-angles: call fit(training:) or load(from:) first") }
        guard features.channelNames == channelNames else {
            throw InputError(field: "features", "channels do not match the representation's")
        }
        return normalizer.denormalize(features)
    }

    struct State: Codable {
        var id: String
        var targetFrameRate: Double
        var unwrapAngles: Bool
        var normalizer: ChannelNormalizer
    }

    public static let stateFile = "representation.json"

    public func save(to directory: URL) throws {
        guard let normalizer else { throw InputError(field: "representation", "joint-angles: nothing to save before fit(training:)") }
        try AtomicFile.writeJSON(State(id: Self.descriptor.id, targetFrameRate: targetFrameRate, unwrapAngles: unwrapAngles, normalizer: normalizer),
                                 to: directory.appendingPathComponent(Self.stateFile))
    }

    public func load(from directory: URL) throws {
        let url = directory.appendingPathComponent(Self.stateFile)
        let s = try SignalOps.readJSON(State.self, from: url)
        guard s.id == Self.descriptor.id else { throw InputError(file: url.path, field: "id", "saved by representation '\(s.id)', not 'joint-angles'") }
        if fixedChannels && s.normalizer.channelNames != channelNames {
            throw InputError(file: url.path, field: "channels", "saved channels differ from the recipe's list")
        }
        channelNames = s.normalizer.channelNames
        normalizer = s.normalizer
    }
}
