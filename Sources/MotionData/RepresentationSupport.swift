import BiomechCore
import Foundation

/// Per-channel mean and standard deviation, fitted on training features only.
///
/// A channel with (near) zero variance gets a standard deviation of 1, so normalising it
/// never divides by zero; a channel never observed in training keeps mean 0, std 1.
public struct ChannelNormalizer: Sendable, Codable, Equatable {
    public var channelNames: [String]
    public var mean: [Double]
    public var std: [Double]

    public init(channelNames: [String], mean: [Double], std: [Double]) {
        self.channelNames = channelNames; self.mean = mean; self.std = std
    }

    enum CodingKeys: String, CodingKey { case channelNames, mean, std }

    /// A saved normaliser must have one finite mean and one positive std per channel.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        channelNames = try c.decode([String].self, forKey: .channelNames)
        mean = try c.decode([Double].self, forKey: .mean)
        std = try c.decode([Double].self, forKey: .std)
        guard mean.count == channelNames.count, std.count == channelNames.count,
              mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath,
                debugDescription: "normalizer: expected one finite mean and one positive std per channel "
                    + "(\(channelNames.count) channels, \(mean.count) means, \(std.count) stds)"))
        }
    }

    /// Fits on feature matrices sharing `channelNames`; only observed channels count.
    public static func fit(_ matrices: [FeatureMatrix], channelNames: [String]) -> ChannelNormalizer {
        let c = channelNames.count
        var sum = [Double](repeating: 0, count: c), sq = [Double](repeating: 0, count: c), n = [Double](repeating: 0, count: c)
        for m in matrices {
            for f in 0..<m.frameCount {
                let base = f * c
                for k in 0..<c where m.observed[k] {
                    let x = Double(m.values[base + k])
                    sum[k] += x; sq[k] += x * x; n[k] += 1
                }
            }
        }
        var mean = [Double](repeating: 0, count: c), std = [Double](repeating: 1, count: c)
        for k in 0..<c where n[k] > 0 {
            mean[k] = sum[k] / n[k]
            let v = max(0, sq[k] / n[k] - mean[k] * mean[k])
            let s = v.squareRoot()
            std[k] = s > 1e-6 * max(1, abs(mean[k])) && s > 1e-8 ? s : 1
        }
        return ChannelNormalizer(channelNames: channelNames, mean: mean, std: std)
    }

    /// (x - mean) / std for observed channels; unobserved channels are 0.
    public func normalize(_ m: FeatureMatrix) -> FeatureMatrix {
        var out = m
        let c = channelNames.count
        for f in 0..<m.frameCount {
            for k in 0..<c {
                out.values[f * c + k] = m.observed[k] ? Float((Double(m.values[f * c + k]) - mean[k]) / std[k]) : 0
            }
        }
        return out
    }

    /// x * std + mean for observed channels; unobserved channels are 0.
    public func denormalize(_ m: FeatureMatrix) -> FeatureMatrix {
        var out = m
        let c = channelNames.count
        for f in 0..<m.frameCount {
            for k in 0..<c {
                out.values[f * c + k] = m.observed[k] ? Float(Double(m.values[f * c + k]) * std[k] + mean[k]) : 0
            }
        }
        return out
    }
}

/// Signal helpers shared by the representations.
public enum SignalOps {
    /// Removes jumps larger than 180° by adding multiples of 360° (channels in degrees).
    public static func unwrapDegrees(_ x: inout [Double]) {
        guard x.count > 1 else { return }
        var offset = 0.0
        var prev = x[0]
        for i in 1..<x.count {
            let raw = x[i]
            let d = raw - prev
            if d > 180 { offset -= 360 * ((d + 180) / 360).rounded(.down) } else if d < -180 { offset += 360 * ((-d + 180) / 360).rounded(.down) }
            prev = raw
            x[i] = raw + offset
        }
    }

    /// Linear resampling of a series sampled at `from` Hz onto `to` Hz (same start time).
    public static func resample(_ x: [Double], from: Double, to: Double) -> [Double] {
        guard x.count > 1, from != to else { return x }
        let duration = Double(x.count - 1) / from
        let n = Int((duration * to + 1e-9).rounded(.down)) + 1
        return (0..<n).map { k in
            let t = Double(k) / to * from
            let i = min(Int(t), x.count - 2)
            let w = t - Double(i)
            return x[i] + (x[i + 1] - x[i]) * w
        }
    }

    /// Loads a representation's JSON state with errors naming the file.
    public static func readJSON<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw InputError(file: url.path, "cannot read the fitted representation state (was it saved?)") }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw InputError(file: url.path, "not a valid representation state: \(error)")
        }
    }
}
