import Foundation

/// The training-loss curve as a small standalone SVG: training loss per optimizer step
/// (thin line), its moving average over 20 steps (thick line) and validation losses (dots).
public enum LossCurve {
    public static func svg(_ log: [TrainingLogEntry], width: Double = 640, height: Double = 360) -> String {
        let train = log.compactMap { e in e.loss.map { (Double(e.step), $0) } }.filter { $0.1.isFinite }
        let validation = log.compactMap { e in e.validationLoss.map { (Double(e.step), $0) } }.filter { $0.1.isFinite }
        let all = train + validation
        let left = 60.0, right = 20.0, top = 30.0, bottom = 45.0
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Fine-tuning loss</text>\n"
        guard !all.isEmpty else { return s + "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\">no steps yet</text>\n</svg>\n" }
        let xMax = Swift.max(1, all.map(\.0).max()!), xMin = Swift.min(0, all.map(\.0).min()!)
        var yMin = all.map(\.1).min()!, yMax = all.map(\.1).max()!
        if yMax - yMin < 1e-9 { yMin -= 0.5; yMax += 0.5 }
        let pad = (yMax - yMin) * 0.05
        yMin -= pad; yMax += pad
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (width - left - right) }
        func py(_ y: Double) -> Double { top + (yMax - y) / (yMax - yMin) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        s += "<line x1=\"\(f(left))\" y1=\"\(f(height - bottom))\" x2=\"\(f(width - right))\" y2=\"\(f(height - bottom))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(height - bottom))\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let y = yMin + (yMax - yMin) * Double(i) / 4
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(String(format: "%.3g", y))</text>\n"
            let x = xMin + (xMax - xMin) * Double(i) / 4
            s += "<text x=\"\(f(px(x)))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(Int(x.rounded()))</text>\n"
        }
        s += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">optimizer step</text>\n"
        s += "<text x=\"14\" y=\"\(f((top + height - bottom) / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f((top + height - bottom) / 2)))\">loss</text>\n"
        if train.count > 1 {
            s += "<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"" + train.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ") + "\"/>\n"
            var smooth: [(Double, Double)] = []
            for i in train.indices {
                let window = train[Swift.max(0, i - 19)...i]
                smooth.append((train[i].0, window.map(\.1).reduce(0, +) / Double(window.count)))
            }
            s += "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\" points=\"" + smooth.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ") + "\"/>\n"
        } else if let p = train.first {
            s += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"3\" fill=\"#08519c\"/>\n"
        }
        for p in validation { s += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"4\" fill=\"#e6550d\"/>\n" }
        s += "<text x=\"\(f(width - right - 150))\" y=\"\(f(top + 12))\" fill=\"#08519c\">— training (20-step mean)</text>\n"
        if !validation.isEmpty { s += "<text x=\"\(f(width - right - 150))\" y=\"\(f(top + 28))\" fill=\"#e6550d\">● validation</text>\n" }
        return s + "</svg>\n"
    }
}
