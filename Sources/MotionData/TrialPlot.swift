import BiomechCore
import Foundation

/// An SVG line plot of a trial's channels over time.
public enum TrialPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf", "#393b79", "#637939"]
    static let preferred = ["hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l", "ankle_angle_r", "ankle_angle_l",
                            "lumbar_extension", "arm_flex_r", "arm_flex_l", "elbow_flex_r", "elbow_flex_l"]

    /// Plots `channels` (default: the main joint angles present, else the first eight
    /// angle channels). Unknown channel names are an `InputError` listing the trial's channels.
    public static func svg(_ trial: Trial, channels: [String]? = nil, width: Int = 960, height: Int = 480) throws -> String {
        var indices: [Int] = []
        if let channels {
            for c in channels {
                guard let i = trial.channelIndex(c) else {
                    throw InputError(file: trial.sourceFile, field: "--channels", "trial \(trial.id) has no channel '\(c)'", allowed: trial.channels.map(\.name))
                }
                indices.append(i)
            }
        } else {
            indices = preferred.compactMap { trial.channelIndex($0) }
            if indices.isEmpty {
                indices = trial.channels.indices.filter { trial.channels[$0].unit != .meters }.prefix(8).map { $0 }
            }
        }
        guard !indices.isEmpty, trial.frameCount > 1 else {
            throw InputError(file: trial.sourceFile, field: trial.id, "nothing to plot (no channels or fewer than two frames)")
        }
        let cols = indices.map { trial.column($0).map(Double.init) }
        var lo = cols.flatMap { $0 }.min()!, hi = cols.flatMap { $0 }.max()!
        if hi - lo < 1e-6 { lo -= 1; hi += 1 }
        let pad = (hi - lo) * 0.05; lo -= pad; hi += pad
        let left = 60.0, right = 170.0, top = 30.0, bottom = 40.0
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        let dur = trial.duration
        func xs(_ f: Int) -> Double { left + w * Double(f) / Double(trial.frameCount - 1) }
        func ys(_ v: Double) -> Double { top + h * (1 - (v - lo) / (hi - lo)) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(left)\" y=\"18\" font-size=\"14\">\(esc(trial.id)) — participant \(esc(trial.participantID)), \(String(format: "%.2f", dur)) s at \(TrialPlotFormat.rate(trial.frameRate)) Hz</text>\n"
        // Axes and grid.
        for k in 0...5 {
            let v = lo + (hi - lo) * Double(k) / 5, y = ys(v)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + w)\" y2=\"\(y)\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(String(format: "%.0f", v))</text>\n"
        }
        let step = max(1.0, (dur / 8).rounded())
        var t = 0.0
        while t <= dur + 1e-9 {
            let x = left + w * t / max(dur - 1 / trial.frameRate, 1e-9)
            if x <= left + w + 0.5 {
                s += "<line x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(top + h)\" stroke=\"#eee\"/>\n"
                s += "<text x=\"\(x)\" y=\"\(top + h + 16)\" text-anchor=\"middle\">\(String(format: "%.0f", t))</text>\n"
            }
            t += step
        }
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<text x=\"\(left + w / 2)\" y=\"\(Double(height) - 6)\" text-anchor=\"middle\">time (s)</text>\n"
        let unit = trial.channels[indices[0]].unit.rawValue
        s += "<text x=\"14\" y=\"\(top + h / 2)\" transform=\"rotate(-90 14 \(top + h / 2))\" text-anchor=\"middle\">\(unit)</text>\n"
        for (k, col) in cols.enumerated() {
            let color = palette[k % palette.count]
            let stride = max(1, col.count / 2000)
            let pts = Swift.stride(from: 0, to: col.count, by: stride).map { String(format: "%.1f,%.1f", xs($0), ys(col[$0])) }
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(pts.joined(separator: " "))\"/>\n"
            let ly = top + 10 + Double(k) * 18
            s += "<line x1=\"\(left + w + 10)\" y1=\"\(ly)\" x2=\"\(left + w + 30)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            s += "<text x=\"\(left + w + 35)\" y=\"\(ly + 4)\">\(esc(trial.channels[indices[k]].name))</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}

enum TrialPlotFormat {
    static func rate(_ r: Double) -> String { r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r) }
}
