import BiomechCore
import Foundation

/// Reconstruction quality of any discrete tokenizer in the units of the representation
/// (degrees for joint angles): every trial is encoded, decoded, trimmed to its length and
/// both the original and the reconstruction are mapped back through `angles(from:)`.
///
/// Per channel, the RMSE pools all frames of all evaluated trials in which the channel was
/// observed. Channels that are not angles (the pelvis quaternion, pelvis translation) are
/// reported but kept out of the degree summary; unobserved channels (zeroed by the
/// preprocessing, e.g. wrists) are left out entirely.
public struct TokenizerEvaluation: Codable, Sendable {
    public struct ChannelError: Codable, Sendable {
        public var channel: String
        public var rmse: Double
        public var unit: String
        public var frames: Int
        /// Standard deviation of the original over the evaluated frames.
        public var std: Double
        /// Fraction of frames where the original jumps by more than 45° from the previous frame
        /// (Euler-angle flips and tracking glitches; no smooth motion moves 45° in one frame).
        public var jumpFraction: Double
        /// RMSE over frames more than 4 frames away from such a jump.
        public var rmseAwayFromJumps: Double
        enum CodingKeys: String, CodingKey {
            case channel, rmse, unit, frames, std, jumpFraction = "jump_fraction", rmseAwayFromJumps = "rmse_away_from_jumps"
        }
    }
    public var trials: Int
    public var frames: Int
    public var participants: [String]
    /// Per-channel RMSE, angle channels first in representation order.
    public var channels: [ChannelError]
    /// The mean over moving angle channels of their RMSE (the paper's "5.8° per joint").
    /// Channels that are constant in the evaluated data (e.g. UI-PRMD's neck, head tip and
    /// toes, always 0) are listed but left out of the summaries.
    public var meanJointRMSE: Double
    /// The same mean over frames more than 4 frames away from any >45° one-frame jump.
    public var meanJointRMSEAwayFromJumps: Double
    public var constantChannels: [String]
    /// The median over angle channels.
    public var medianJointRMSE: Double
    /// RMSE over every angle value together.
    public var pooledRMSE: Double
    /// RMSE in normalised feature units (what training minimises).
    public var normalizedRMSE: Double
    public var codebookSize: Int
    public var usedCodes: Int
    /// `exp(entropy)` of the token distribution over the evaluated trials.
    public var perplexity: Double
    public var tokens: Int

    enum CodingKeys: String, CodingKey {
        case trials, frames, participants, channels, meanJointRMSE = "mean_joint_rmse_deg", medianJointRMSE = "median_joint_rmse_deg"
        case meanJointRMSEAwayFromJumps = "mean_joint_rmse_away_from_jumps_deg", constantChannels = "constant_channels"
        case pooledRMSE = "pooled_rmse_deg", normalizedRMSE = "normalized_rmse", codebookSize = "codebook_size"
        case usedCodes = "used_codes", perplexity, tokens
    }

    /// Channels that are not angles in degrees.
    public static func unit(of channel: String) -> String {
        if BiomechModelPose.pelvisQuaternion.contains(channel) { return "quaternion" }
        if BiomechModelPose.pelvisTranslation.contains(channel) { return "m" }
        return "deg"
    }

    /// One trial's original and reconstruction in representation units (for plots).
    public struct Pair: Sendable {
        public var original: FeatureMatrix
        public var reconstruction: FeatureMatrix
    }

    /// Encodes, decodes and inverts one trial's features.
    public static func reconstruct(_ features: FeatureMatrix, tokenizer: any Tokenizer,
                                   representation: any MotionRepresentation) throws -> (Pair, MotionEncoding, FeatureMatrix) {
        let encoding = try tokenizer.encode(features)
        var decoded = try tokenizer.decode(encoding, frameRate: features.frameRate)
        guard decoded.frameCount >= features.frameCount else {
            throw InputError(field: "decode", "the tokenizer decoded \(decoded.frameCount) frames for a \(features.frameCount)-frame trial")
        }
        decoded = decoded.frames(0..<features.frameCount)
        decoded.observed = features.observed
        let pair = Pair(original: try representation.angles(from: features), reconstruction: try representation.angles(from: decoded))
        return (pair, encoding, decoded)
    }

    public static func run(features: [FeatureMatrix], participants: [String], tokenizer: any Tokenizer,
                           representation: any MotionRepresentation) throws -> TokenizerEvaluation {
        guard let first = features.first else { throw InputError(field: "trials", "no trials to evaluate") }
        let names = first.channelNames, c = names.count
        var sq = [Double](repeating: 0, count: c), n = [Int](repeating: 0, count: c)
        var sum = [Double](repeating: 0, count: c), sumSq = [Double](repeating: 0, count: c)
        var jumps = [Int](repeating: 0, count: c), awaySq = [Double](repeating: 0, count: c), awayN = [Int](repeating: 0, count: c)
        var normSq = 0.0, normCount = 0, frames = 0
        var counts = [Int](repeating: 0, count: max(tokenizer.codebookSize, 1)), tokens = 0
        let jumpLimit: Float = 45, guardFrames = 4
        for f in features {
            let (pair, encoding, recNorm) = try reconstruct(f, tokenizer: tokenizer, representation: representation)
            if case .tokens(let t) = encoding { for k in t where k >= 0 && k < counts.count { counts[k] += 1 }; tokens += t.count }
            for i in 0..<f.values.count { let e = Double(recNorm.values[i] - f.values[i]); normSq += e * e }
            normCount += f.values.count
            frames += f.frameCount
            let a = pair.original, b = pair.reconstruction, T = f.frameCount
            for ch in 0..<c where f.observed[ch] {
                var near = [Bool](repeating: false, count: T)
                for t in 1..<max(T, 1) where abs(a[t, ch] - a[t - 1, ch]) > jumpLimit {
                    jumps[ch] += 1
                    for u in max(0, t - 1 - guardFrames)...min(T - 1, t + guardFrames) { near[u] = true }
                }
                var s = 0.0
                for t in 0..<T {
                    let e = Double(a[t, ch] - b[t, ch])
                    s += e * e
                    if !near[t] { awaySq[ch] += e * e; awayN[ch] += 1 }
                    let v = Double(a[t, ch]); sum[ch] += v; sumSq[ch] += v * v
                }
                sq[ch] += s; n[ch] += T
            }
        }
        var channels: [ChannelError] = []
        for ch in 0..<c where n[ch] > 0 {
            let mean = sum[ch] / Double(n[ch])
            let std = max(0, sumSq[ch] / Double(n[ch]) - mean * mean).squareRoot()
            channels.append(ChannelError(channel: names[ch], rmse: (sq[ch] / Double(n[ch])).squareRoot(), unit: unit(of: names[ch]),
                                         frames: n[ch], std: std, jumpFraction: Double(jumps[ch]) / Double(n[ch]),
                                         rmseAwayFromJumps: awayN[ch] > 0 ? (awaySq[ch] / Double(awayN[ch])).squareRoot() : .nan))
        }
        channels.sort { ($0.unit == "deg" ? 0 : 1, names.firstIndex(of: $0.channel)!) < ($1.unit == "deg" ? 0 : 1, names.firstIndex(of: $1.channel)!) }
        let constant = channels.filter { $0.unit == "deg" && $0.std < 1e-4 }.map(\.channel)
        let angles = channels.filter { $0.unit == "deg" && !constant.contains($0.channel) }
        let rmses = angles.map(\.rmse).sorted()
        let mean = rmses.isEmpty ? .nan : rmses.reduce(0, +) / Double(rmses.count)
        let median = rmses.isEmpty ? .nan : (rmses.count % 2 == 1 ? rmses[rmses.count / 2] : (rmses[rmses.count / 2 - 1] + rmses[rmses.count / 2]) / 2)
        let away = angles.map(\.rmseAwayFromJumps).filter(\.isFinite)
        var pooledSq = 0.0, pooledN = 0
        for ch in 0..<c where n[ch] > 0 && angles.contains(where: { $0.channel == names[ch] }) { pooledSq += sq[ch]; pooledN += n[ch] }
        var h = 0.0
        for k in counts where k > 0 { let p = Double(k) / Double(max(tokens, 1)); h -= p * log(p) }
        return TokenizerEvaluation(
            trials: features.count, frames: frames, participants: Array(Set(participants)).sorted(), channels: channels,
            meanJointRMSE: mean, meanJointRMSEAwayFromJumps: away.isEmpty ? .nan : away.reduce(0, +) / Double(away.count),
            constantChannels: constant, medianJointRMSE: median,
            pooledRMSE: pooledN > 0 ? (pooledSq / Double(pooledN)).squareRoot() : .nan,
            normalizedRMSE: normCount > 0 ? (normSq / Double(normCount)).squareRoot() : .nan,
            codebookSize: tokenizer.codebookSize, usedCodes: counts.filter { $0 > 0 }.count, perplexity: exp(h), tokens: tokens)
    }

    /// A readable summary.
    public var text: String {
        var s = String(format: "%d trials (%d frames) of %d participants\n", trials, frames, participants.count)
        s += String(format: "mean joint RMSE %.2f°  (median %.2f°, pooled %.2f°; normalised %.4f) over %d moving angle channels\n",
                    meanJointRMSE, medianJointRMSE, pooledRMSE, normalizedRMSE, channels.filter { $0.unit == "deg" }.count - constantChannels.count)
        s += String(format: "mean joint RMSE away from >45° one-frame jumps: %.2f°\n", meanJointRMSEAwayFromJumps)
        if !constantChannels.isEmpty { s += "constant channels (left out of the means): \(constantChannels.joined(separator: ", "))\n" }
        s += String(format: "codes used %d of %d, perplexity %.1f over %d tokens\n", usedCodes, codebookSize, perplexity, tokens)
        s += "  channel                    RMSE     away from jumps   std      jumps>45°\n"
        for ch in channels where !constantChannels.contains(ch.channel) {
            s += "  " + ch.channel.padding(toLength: max(24, ch.channel.count), withPad: " ", startingAt: 0)
                + String(format: "%8.3f   %8.3f        %8.2f   %6.2f%%  %@\n", ch.rmse, ch.rmseAwayFromJumps, ch.std, 100 * ch.jumpFraction,
                         ch.unit == "deg" ? "" : ch.unit)
        }
        return s
    }

    /// An SVG of original (dark) against reconstruction (red) for up to `maxPanels` angle
    /// channels of one trial, one small panel per channel.
    public static func svg(_ pair: Pair, title: String, channels wanted: [String]? = nil, maxPanels: Int = 12) -> String {
        let a = pair.original, b = pair.reconstruction
        let names = a.channelNames
        var chosen: [Int]
        if let wanted { chosen = wanted.compactMap { names.firstIndex(of: $0) } } else {
            // The observed angle channels that move the most.
            let candidates = names.indices.filter { a.observed[$0] && unit(of: names[$0]) == "deg" }
            func range(_ ch: Int) -> Float {
                var lo = Float.infinity, hi = -Float.infinity
                for t in 0..<a.frameCount { lo = min(lo, a[t, ch]); hi = max(hi, a[t, ch]) }
                return hi - lo
            }
            chosen = Array(candidates.sorted { range($0) > range($1) }.prefix(maxPanels)).sorted()
        }
        let columns = 3, rows = max(1, (chosen.count + columns - 1) / columns)
        let pw = 320.0, ph = 150.0, top = 40.0
        let width = Double(columns) * pw, height = top + Double(rows) * ph + 20
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"10\" y=\"18\" font-size=\"14\">\(esc(title))</text>\n"
        s += "<text x=\"10\" y=\"33\"><tspan fill=\"#222\">— original</tspan>  <tspan fill=\"#d62728\">— reconstruction</tspan>  (degrees against time, \(a.frameCount) frames at \(String(format: "%g", a.frameRate)) Hz)</text>\n"
        let n = a.frameCount
        for (k, ch) in chosen.enumerated() {
            let x0 = Double(k % columns) * pw + 45, y0 = top + Double(k / columns) * ph + 18
            let w = pw - 60, h = ph - 40
            var lo = Float.infinity, hi = -Float.infinity
            for t in 0..<n { lo = min(lo, a[t, ch], b[t, ch]); hi = max(hi, a[t, ch], b[t, ch]) }
            if hi - lo < 1e-3 { lo -= 1; hi += 1 }
            func px(_ t: Int) -> Double { x0 + w * Double(t) / Double(max(n - 1, 1)) }
            func py(_ v: Float) -> Double { y0 + h * (1 - Double((v - lo) / (hi - lo))) }
            var e = 0.0
            for t in 0..<n { let d = Double(a[t, ch] - b[t, ch]); e += d * d }
            s += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#999\"/>\n"
            s += "<text x=\"\(x0)\" y=\"\(y0 - 4)\">\(esc(names[ch])) — RMSE \(String(format: "%.2f", (e / Double(max(n, 1))).squareRoot()))°</text>\n"
            s += "<text x=\"\(x0 - 4)\" y=\"\(y0 + 9)\" text-anchor=\"end\">\(String(format: "%.0f", hi))</text>\n"
            s += "<text x=\"\(x0 - 4)\" y=\"\(y0 + h)\" text-anchor=\"end\">\(String(format: "%.0f", lo))</text>\n"
            let stride = max(1, n / 600)
            for (m, color) in [(a, "#222"), (b, "#d62728")] {
                let pts = Swift.stride(from: 0, to: n, by: stride).map { String(format: "%.1f,%.1f", px($0), py(m[$0, ch])) }
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.2\" points=\"\(pts.joined(separator: " "))\"/>\n"
            }
        }
        s += "</svg>\n"
        return s
    }
}
