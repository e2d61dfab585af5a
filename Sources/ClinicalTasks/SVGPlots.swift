import Foundation

/// Small, dependency-free SVG figures for reports.
public enum SVGPlots {
    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func n(_ x: Double) -> String { String(format: "%.2f", x) }

    /// A confusion matrix: rows are true classes, columns predicted classes (and a last
    /// column of unparseable answers when there are any); cells shaded by the row fraction.
    public static func confusionMatrix(_ m: ClassificationMetrics, title: String) -> String {
        let labels = m.labels
        let showMissing = m.unparseable > 0
        let columns = labels + (showMissing ? ["(unparsed)"] : [])
        let cell = 44.0, left = 40 + Double(labels.map(\.count).max() ?? 4) * 7, top = 70.0
        let width = left + cell * Double(columns.count) + 40
        let height = top + cell * Double(labels.count) + 40 + Double(columns.map(\.count).max() ?? 4) * 6
        var svg = header(width: width, height: height)
        svg += "<text x=\"\(n(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
        svg += "<text x=\"\(n(left + cell * Double(columns.count) / 2))\" y=\"44\" text-anchor=\"middle\" font-size=\"12\">predicted</text>\n"
        svg += "<text x=\"14\" y=\"\(n(top + cell * Double(labels.count) / 2))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 \(n(top + cell * Double(labels.count) / 2)))\">true</text>\n"
        for (i, row) in m.confusion.enumerated() {
            let total = max(1, row.reduce(0, +))
            let y = top + cell * Double(i)
            svg += "<text x=\"\(n(left - 6))\" y=\"\(n(y + cell / 2 + 4))\" text-anchor=\"end\" font-size=\"11\">\(escape(labels[i]))</text>\n"
            for j in 0..<columns.count {
                let count = row[j]
                let fraction = Double(count) / Double(total)
                let x = left + cell * Double(j)
                let shade = Int(255 - fraction * 200)
                svg += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(cell))\" height=\"\(n(cell))\" fill=\"rgb(\(shade),\(shade),255)\" stroke=\"#888\" stroke-width=\"0.5\"/>\n"
                svg += "<text x=\"\(n(x + cell / 2))\" y=\"\(n(y + cell / 2 + 4))\" text-anchor=\"middle\" font-size=\"11\" fill=\"\(fraction > 0.6 ? "white" : "black")\">\(count)</text>\n"
            }
        }
        let labelY = top + cell * Double(labels.count) + 12
        for (j, label) in columns.enumerated() {
            let x = left + cell * Double(j) + cell / 2
            svg += "<text x=\"\(n(x))\" y=\"\(n(labelY))\" font-size=\"11\" text-anchor=\"start\" transform=\"rotate(35 \(n(x)) \(n(labelY)))\">\(escape(label))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// Truth (x) against prediction (y), the least-squares fit line and the identity line.
    public static func scatter(points: [[Double]], metrics: RegressionMetrics, title: String, unit: String?) -> String {
        let width = 420.0, height = 400.0, left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
        let values = points.flatMap { $0 }.filter(\.isFinite)
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        func sx(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * (width - left - right) }
        func sy(_ v: Double) -> Double { height - bottom - (v - lo) / (hi - lo) * (height - top - bottom) }
        var svg = header(width: width, height: height)
        svg += "<text x=\"\(n(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
        svg += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(width - left - right))\" height=\"\(n(height - top - bottom))\" fill=\"none\" stroke=\"#444\"/>\n"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            let label = String(format: abs(hi - lo) < 10 ? "%.2f" : "%.1f", v)
            svg += "<text x=\"\(n(sx(v)))\" y=\"\(n(height - bottom + 16))\" text-anchor=\"middle\" font-size=\"10\">\(label)</text>\n"
            svg += "<text x=\"\(n(left - 6))\" y=\"\(n(sy(v) + 3))\" text-anchor=\"end\" font-size=\"10\">\(label)</text>\n"
        }
        let unitText = unit.map { " (\($0))" } ?? ""
        svg += "<text x=\"\(n((left + width - right) / 2))\" y=\"\(n(height - 12))\" text-anchor=\"middle\" font-size=\"12\">true\(escape(unitText))</text>\n"
        let midY = (top + height - bottom) / 2
        svg += "<text x=\"16\" y=\"\(n(midY))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 16 \(n(midY)))\">predicted\(escape(unitText))</text>\n"
        svg += "<line x1=\"\(n(sx(lo)))\" y1=\"\(n(sy(lo)))\" x2=\"\(n(sx(hi)))\" y2=\"\(n(sy(hi)))\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>\n"
        for p in points where p.count == 2 && p[0].isFinite && p[1].isFinite {
            svg += "<circle cx=\"\(n(sx(p[0])))\" cy=\"\(n(sy(p[1])))\" r=\"2.5\" fill=\"#1f77b4\" fill-opacity=\"0.6\"/>\n"
        }
        if metrics.slope.isFinite, metrics.intercept.isFinite {
            // Clip the fit line to the plot box.
            var a = (lo, metrics.slope * lo + metrics.intercept), b = (hi, metrics.slope * hi + metrics.intercept)
            func clip(_ p: (Double, Double)) -> (Double, Double) {
                guard p.1 < lo || p.1 > hi, metrics.slope != 0 else { return p }
                let y = min(max(p.1, lo), hi)
                return ((y - metrics.intercept) / metrics.slope, y)
            }
            a = clip(a); b = clip(b)
            svg += "<line x1=\"\(n(sx(a.0)))\" y1=\"\(n(sy(a.1)))\" x2=\"\(n(sx(b.0)))\" y2=\"\(n(sy(b.1)))\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n"
        }
        let r = metrics.pearsonR.isFinite ? String(format: "%.3f", metrics.pearsonR) : "n/a"
        let p = metrics.pValue.isFinite ? String(format: "%.2g", metrics.pValue) : "n/a"
        let fit = metrics.slope.isFinite ? String(format: "y = %.3f x + %.3f", metrics.slope, metrics.intercept) : ""
        svg += "<text x=\"\(n(left + 8))\" y=\"\(n(top + 16))\" font-size=\"11\">r = \(r), p = \(p), n = \(metrics.count - metrics.unparseable)\(metrics.unparseable > 0 ? ", unparsed \(metrics.unparseable)" : "")</text>\n"
        svg += "<text x=\"\(n(left + 8))\" y=\"\(n(top + 30))\" font-size=\"11\" fill=\"#d62728\">\(escape(fit))</text>\n"
        return svg + "</svg>\n"
    }

    static func header(width: Double, height: Double) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    }
}
