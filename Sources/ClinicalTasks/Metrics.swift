import Foundation

/// Special functions for the metrics' p-values.
public enum SpecialFunctions {
    /// The regularized incomplete beta function I_x(a, b), by the continued fraction of
    /// Numerical Recipes (modified Lentz), using the symmetry I_x(a,b) = 1 − I_{1−x}(b,a)
    /// where the fraction converges faster.
    public static func regularizedIncompleteBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
        guard a > 0, b > 0, x.isFinite else { return .nan }
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * betaContinuedFraction(a, b, x) / a
        } else {
            return 1 - exp(logFront) * betaContinuedFraction(b, a, 1 - x) / b
        }
    }

    static func betaContinuedFraction(_ a: Double, _ b: Double, _ x: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-16
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }

    /// Two-sided p-value of Student's t with `df` degrees of freedom.
    public static func studentTTwoSided(t: Double, df: Double) -> Double {
        guard t.isFinite else { return t.isNaN ? .nan : 0 }
        return regularizedIncompleteBeta(df / 2, 0.5, df / (df + t * t))
    }
}

/// Classification scores over one set of predictions.
///
/// F1 is averaged over the classes that occur in the truth or in the parsed predictions
/// (scikit-learn's default label set), in the task's class order. An unparseable answer
/// (nil) counts as wrong: a false negative for its true class and a miss in accuracy; it has
/// its own column in the confusion matrix.
public struct ClassificationMetrics: Sendable, Codable, Equatable {
    public var count: Int
    public var unparseable: Int
    public var accuracy: Double
    public var macroF1: Double
    public var weightedF1: Double
    /// Classes scored, in order (rows and columns of the confusion matrix).
    public var labels: [String]
    /// `confusion[i][j]`: trials of true class `labels[i]` predicted as `labels[j]`; the
    /// last column counts unparseable answers.
    public var confusion: [[Int]]
    public var precision: [Double]
    public var recall: [Double]
    public var f1: [Double]
    public var support: [Int]

    enum CodingKeys: String, CodingKey {
        case count, unparseable, accuracy, macroF1 = "macro_f1", weightedF1 = "weighted_f1", labels, confusion
        case precision, recall, f1, support
    }

    public init(truth: [String], predicted: [String?], classes: [String] = []) {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        var labels = classes.filter { c in truth.contains(c) || predicted.contains(c) }
        for extra in (truth + predicted.compactMap { $0 }) where !labels.contains(extra) { labels.append(extra) }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let k = labels.count
        var confusion = Array(repeating: Array(repeating: 0, count: k + 1), count: k)
        var correct = 0, missing = 0
        for (t, p) in zip(truth, predicted) {
            let i = index[t]!
            if let p { confusion[i][index[p]!] += 1; if p == t { correct += 1 } } else { confusion[i][k] += 1; missing += 1 }
        }
        var precision = [Double](), recall = [Double](), f1 = [Double](), support = [Int]()
        for i in 0..<k {
            let tp = Double(confusion[i][i])
            let predictedAs = Double((0..<k).reduce(0) { $0 + confusion[$1][i] })
            let actual = confusion[i].reduce(0, +)
            let p = predictedAs > 0 ? tp / predictedAs : 0
            let r = actual > 0 ? tp / Double(actual) : 0
            precision.append(p); recall.append(r)
            f1.append(p + r > 0 ? 2 * p * r / (p + r) : 0)
            support.append(actual)
        }
        let n = truth.count
        self.count = n; self.unparseable = missing
        self.accuracy = n > 0 ? Double(correct) / Double(n) : .nan
        self.macroF1 = k > 0 ? f1.reduce(0, +) / Double(k) : .nan
        let total = support.reduce(0, +)
        self.weightedF1 = total > 0 ? zip(f1, support).reduce(0) { $0 + $1.0 * Double($1.1) } / Double(total) : .nan
        self.labels = labels; self.confusion = confusion
        self.precision = precision; self.recall = recall; self.f1 = f1; self.support = support
    }
}

/// Regression scores: Pearson r with its two-sided p-value (t-test with n − 2 degrees of
/// freedom), the least-squares line of prediction on truth, MAE and RMSE. Unparseable
/// answers (nil) cannot enter r: they are left out of the fit and counted in `unparseable`.
public struct RegressionMetrics: Sendable, Codable, Equatable {
    public var count: Int
    public var unparseable: Int
    public var pearsonR: Double
    public var pValue: Double
    public var slope: Double
    public var intercept: Double
    public var mae: Double
    public var rmse: Double

    enum CodingKeys: String, CodingKey {
        case count, unparseable, pearsonR = "pearson_r", pValue = "p_value", slope, intercept, mae, rmse
    }

    public init(truth: [Double], predicted: [Double?]) {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        var xs: [Double] = [], ys: [Double] = []
        for (t, p) in zip(truth, predicted) { if let p, p.isFinite { xs.append(t); ys.append(p) } }
        count = truth.count
        unparseable = truth.count - xs.count
        let n = Double(xs.count)
        guard xs.count >= 1 else { pearsonR = .nan; pValue = .nan; slope = .nan; intercept = .nan; mae = .nan; rmse = .nan; return }
        mae = zip(xs, ys).reduce(0) { $0 + abs($1.0 - $1.1) } / n
        rmse = (zip(xs, ys).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / n).squareRoot()
        let mx = xs.reduce(0, +) / n, my = ys.reduce(0, +) / n
        var sxx = 0.0, syy = 0.0, sxy = 0.0
        for (x, y) in zip(xs, ys) { sxx += (x - mx) * (x - mx); syy += (y - my) * (y - my); sxy += (x - mx) * (y - my) }
        slope = sxx > 0 ? sxy / sxx : .nan
        intercept = sxx > 0 ? my - slope * mx : .nan
        guard xs.count >= 2, sxx > 0, syy > 0 else { pearsonR = .nan; pValue = .nan; return }
        let r = max(-1, min(1, sxy / (sxx * syy).squareRoot()))
        pearsonR = r
        if xs.count < 3 { pValue = 1; return }
        let df = n - 2
        // p = I_{df/(df+t²)}(df/2, 1/2) with t² = df r²/(1−r²), i.e. x = 1 − r².
        pValue = abs(r) >= 1 ? 0 : SpecialFunctions.regularizedIncompleteBeta(df / 2, 0.5, 1 - r * r)
    }
}

/// Mean and sample standard deviation (n − 1) over repeated runs; nil std for one run.
public struct MeanStd: Sendable, Codable, Equatable {
    public var mean: Double
    public var std: Double?
    public var runs: Int

    public init(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        runs = finite.count
        guard !finite.isEmpty else { mean = .nan; std = nil; return }
        let m = finite.reduce(0, +) / Double(finite.count)
        mean = m
        std = finite.count > 1 ? (finite.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(finite.count - 1)).squareRoot() : nil
    }

    /// `0.88 ± 0.02` (or `0.88` for one run, `—` for none).
    public func formatted(digits: Int = 2) -> String {
        guard mean.isFinite else { return "—" }
        let m = String(format: "%.\(digits)f", mean)
        guard let std else { return m }
        return "\(m) ± \(String(format: "%.\(digits)f", std))"
    }
}
