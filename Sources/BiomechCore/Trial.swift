/// The unit of a recorded coordinate.
public enum ChannelUnit: String, Sendable, Codable, CaseIterable {
    case degrees, radians, meters, unitless
}

/// One recorded coordinate of a trial (a joint angle, a pelvis translation, ...).
public struct Channel: Sendable, Hashable, Codable {
    public var name: String
    public var unit: ChannelUnit
    public init(_ name: String, unit: ChannelUnit) { self.name = name; self.unit = unit }
}

/// One recording: a trajectory of named coordinates sampled at a frame rate, with the
/// clinical labels of the person and the trial.
///
/// `values` is row-major, frames × channels. Labels may be categorical or numeric and
/// may be missing (absent from `labels`). `participantID` is what splits group on: all
/// trials of one participant always fall on the same side of a split.
public struct Trial: Sendable {
    public var id: String
    public var participantID: String
    public var frameRate: Double
    public var channels: [Channel]
    public var values: [Float]
    public var labels: [String: LabelValue]
    /// The file the trial was imported from, for error messages and provenance.
    public var sourceFile: String?

    public var frameCount: Int { channels.isEmpty ? 0 : values.count / channels.count }
    public var duration: Double { Double(frameCount) / frameRate }

    /// Creates a trial, checking that the values form a frames × channels matrix (at least
    /// one frame) of finite numbers (NaN marks a tracking dropout in some formats: importers must resolve or
    /// reject it before a trial is built).
    public init(id: String, participantID: String, frameRate: Double, channels: [Channel],
                values: [Float], labels: [String: LabelValue] = [:], sourceFile: String? = nil) throws {
        guard !channels.isEmpty else { throw InputError(file: sourceFile, field: id, "a trial needs at least one channel") }
        guard !values.isEmpty else {
            throw InputError(file: sourceFile, field: id, "has no frames; a trial needs at least one")
        }
        guard values.count % channels.count == 0 else {
            throw InputError(file: sourceFile, field: id,
                             "\(values.count) values do not fill whole frames of \(channels.count) channels")
        }
        guard frameRate.isFinite, frameRate > 0 else {
            throw InputError(file: sourceFile, field: "\(id).frame_rate", "frame rate must be a positive number, got \(frameRate)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            let frame = bad / channels.count, channel = channels[bad % channels.count].name
            throw InputError(file: sourceFile, field: "\(id).\(channel)",
                             "value at frame \(frame) is \(values[bad]); expected a finite number")
        }
        self.id = id; self.participantID = participantID; self.frameRate = frameRate
        self.channels = channels; self.values = values; self.labels = labels; self.sourceFile = sourceFile
    }

    /// The index of a channel by name, if present.
    public func channelIndex(_ name: String) -> Int? { channels.firstIndex { $0.name == name } }

    /// The values of one channel over time.
    public func column(_ index: Int) -> [Float] {
        let c = channels.count
        return (0..<frameCount).map { values[$0 * c + index] }
    }
}

/// A named collection of trials: what an HDF5 data set file holds.
public struct MotionDataset: Sendable {
    public var name: String
    public var trials: [Trial]
    /// Free-form provenance: generator and seed, importer and inputs, licence.
    public var attributes: [String: String]

    public init(name: String, trials: [Trial], attributes: [String: String] = [:]) {
        self.name = name; self.trials = trials; self.attributes = attributes
    }

    public var participantIDs: [String] { Array(Set(trials.map(\.participantID))).sorted() }
}
