import BiomechCore
import Foundation

/// Summary statistics of numbers.
public struct NumberStats: Sendable, Codable, Equatable {
    public var count: Int, mean: Double, std: Double, min: Double, max: Double
    public init(_ xs: [Double]) {
        count = xs.count
        mean = xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
        let m = mean
        std = xs.count < 2 ? 0 : (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
        min = xs.min() ?? 0; max = xs.max() ?? 0
    }
}

/// The balance of one label: counts per category, or statistics of the numbers.
public struct LabelBalance: Sendable, Codable, Equatable {
    public var name: String
    /// Trials that carry the label.
    public var present: Int
    public var missing: Int
    public var categories: [String: Int]?
    public var numbers: NumberStats?
    /// Participants per category (categorical labels only).
    public var participantsPerCategory: [String: Int]?
}

public struct ChannelSet: Sendable, Codable, Equatable {
    public var channels: [String]
    public var trials: Int
}

/// What `biomechgpt data inspect` prints.
public struct DatasetSummary: Sendable, Codable {
    public var name: String
    public var trials: Int
    public var participants: Int
    public var trialsPerParticipant: NumberStats
    public var duration: NumberStats
    public var frames: NumberStats
    public var frameRates: [String: Int]
    /// The distinct channel lists and how many trials have each.
    public var channelSets: [ChannelSet]
    public var labels: [LabelBalance]
    /// Label balance within each activity (when the data set has an `activity` label).
    public var labelsByActivity: [String: [LabelBalance]]?
    public var attributes: [String: String]

    public init(_ dataset: MotionDataset) {
        name = dataset.name
        trials = dataset.trials.count
        let byP = Dictionary(grouping: dataset.trials, by: \.participantID)
        participants = byP.count
        trialsPerParticipant = NumberStats(byP.values.map { Double($0.count) })
        duration = NumberStats(dataset.trials.map(\.duration))
        frames = NumberStats(dataset.trials.map { Double($0.frameCount) })
        var rates: [String: Int] = [:]
        for t in dataset.trials { rates[Self.rateText(t.frameRate), default: 0] += 1 }
        frameRates = rates
        var sets: [[String]: Int] = [:]
        for t in dataset.trials { sets[t.channels.map(\.name), default: 0] += 1 }
        channelSets = sets.map { ChannelSet(channels: $0.key, trials: $0.value) }.sorted { $0.trials > $1.trials }
        labels = Self.balance(dataset.trials)
        if dataset.trials.contains(where: { $0.labels["activity"] != nil }) {
            let groups = Dictionary(grouping: dataset.trials) { $0.labels["activity"]?.description ?? "(none)" }
            labelsByActivity = groups.mapValues { Self.balance($0).filter { $0.name != "activity" && $0.present > 0 } }
        }
        attributes = dataset.attributes
    }

    static func rateText(_ r: Double) -> String { r == r.rounded() ? String(Int(r)) : String(format: "%.3f", r) }

    static func balance(_ trials: [Trial]) -> [LabelBalance] {
        let keys = Set(trials.flatMap { $0.labels.keys }).sorted()
        return keys.map { key in
            var cats: [String: Int] = [:], nums: [Double] = []
            var partsPer: [String: Set<String>] = [:]
            for t in trials {
                switch t.labels[key] {
                case .category(let c)?: cats[c, default: 0] += 1; partsPer[c, default: []].insert(t.participantID)
                case .number(let x)?: nums.append(x)
                case nil: break
                }
            }
            let present = cats.values.reduce(0, +) + nums.count
            return LabelBalance(name: key, present: present, missing: trials.count - present,
                                categories: cats.isEmpty ? nil : cats, numbers: nums.isEmpty ? nil : NumberStats(nums),
                                participantsPerCategory: cats.isEmpty ? nil : partsPer.mapValues(\.count))
        }
    }

    /// A plain-text report.
    public var text: String {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        func stats(_ s: NumberStats) -> String { "mean \(f(s.mean)) ± \(f(s.std)), min \(f(s.min)), max \(f(s.max))" }
        var out = "data set: \(name)\n"
        out += "trials: \(trials)   participants: \(participants)   trials per participant: \(stats(trialsPerParticipant))\n"
        out += "duration (s): \(stats(duration))\n"
        out += "frames: \(stats(frames))\n"
        out += "frame rates (Hz): " + frameRates.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) trials)" }.joined(separator: ", ") + "\n"
        for cs in channelSets {
            let set = cs.channels, n = cs.trials
            let shown = set.count > 8 ? set.prefix(8).joined(separator: ", ") + ", … (\(set.count) channels)" : set.joined(separator: ", ")
            out += "channels [\(n) trials]: \(shown)\n"
        }
        func labelLines(_ ls: [LabelBalance], indent: String) -> String {
            var o = ""
            for l in ls {
                o += "\(indent)\(l.name): \(l.present) trials" + (l.missing > 0 ? " (\(l.missing) without)" : "")
                if let c = l.categories {
                    o += " — " + c.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map { k, v in
                        "\(k) \(v)" + (l.participantsPerCategory?[k].map { " [\($0) participants]" } ?? "")
                    }.joined(separator: ", ")
                }
                if let s = l.numbers { o += " — " + stats(s) }
                o += "\n"
            }
            return o
        }
        out += "labels:\n" + labelLines(labels, indent: "  ")
        if let by = labelsByActivity {
            out += "label balance per activity:\n"
            for (activity, ls) in by.sorted(by: { $0.key < $1.key }) {
                out += "  \(activity):\n" + labelLines(ls, indent: "    ")
            }
        }
        if !attributes.isEmpty {
            out += "provenance:\n" + attributes.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)\n" }.joined()
        }
        return out
    }
}
