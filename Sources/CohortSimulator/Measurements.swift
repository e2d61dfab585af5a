import Foundation

/// Clinical measures computed from a trial's (noisy) kinematics, the way a lab computes
/// them from tracked motion: nothing here reads the generator's parameters.
public enum GaitMeasures {
    static func smooth(_ x: [Double], _ w: Int) -> [Double] {
        guard x.count > 2 * w else { return x }
        var out = x
        var sum = 0.0
        for i in 0..<x.count {
            let lo = max(0, i - w), hi = min(x.count - 1, i + w)
            if i == 0 { sum = x[0...hi].reduce(0, +) } else {
                if i - w - 1 >= 0 { sum -= x[i - w - 1] }
                if i + w < x.count { sum += x[i + w] }
            }
            out[i] = sum / Double(hi - lo + 1)
        }
        return out
    }

    /// Walking speed (m/s): straight-line displacement of the pelvis between the first and
    /// last half second, over the time between them.
    public static func walkingSpeed(tx: [Double], tz: [Double], frameRate: Double) -> Double {
        let n = tx.count, w = max(1, Int(frameRate / 2))
        guard n > 2 * w else { return 0 }
        func mean(_ a: ArraySlice<Double>) -> Double { a.reduce(0, +) / Double(a.count) }
        let dx = mean(tx[(n - w)...]) - mean(tx[..<w]), dz = mean(tz[(n - w)...]) - mean(tz[..<w])
        return (dx * dx + dz * dz).squareRoot() / (Double(n - w) / frameRate)
    }

    /// Cadence (steps/min) from the alternation of the two hips: one upward crossing of
    /// (right hip flexion - left hip flexion) per stride, with hysteresis against noise.
    public static func cadence(hipRight: [Double], hipLeft: [Double], frameRate: Double) -> Double? {
        let d = smooth(zip(hipRight, hipLeft).map { $0 - $1 }, 3)
        let mean = d.reduce(0, +) / Double(max(d.count, 1))
        let centred = d.map { $0 - mean }
        let amp = (centred.map { $0 * $0 }.reduce(0, +) / Double(max(d.count, 1))).squareRoot()
        let hyst = max(1.5, 0.3 * amp)
        var armed = false
        var crossings: [Double] = []
        for i in 1..<centred.count {
            if centred[i] < -hyst { armed = true }
            if armed && centred[i - 1] < 0 && centred[i] >= 0 {
                let f = Double(i - 1) + (-centred[i - 1]) / (centred[i] - centred[i - 1])
                crossings.append(f); armed = false
            }
        }
        guard crossings.count >= 2 else { return nil }
        let strideTime = (crossings.last! - crossings.first!) / Double(crossings.count - 1) / frameRate
        return 120 / strideTime
    }

    /// Timed Up and Go (s): from the first forward lean out of the chair (mean hip flexion
    /// leaving its seated baseline) to the pelvis settling back to seat height.
    public static func tugTime(hipMean: [Double], pelvisHeight: [Double], frameRate: Double) -> Double {
        let h = smooth(hipMean, 3), y = smooth(pelvisHeight, 3)
        let w = max(3, Int(0.4 * frameRate))
        let base = h[..<w].reduce(0, +) / Double(w)
        let seatEnd = y[(y.count - w)...].reduce(0, +) / Double(w)
        let onset = h.firstIndex { abs($0 - base) > 6 } ?? 0
        let end = y.lastIndex { $0 > seatEnd + 0.02 } ?? (y.count - 1)
        return Double(end - onset) / frameRate
    }

    /// Four Square Step Test (s): from the first foot lift to the last foot down, taken as
    /// the span in which any hip or knee leaves its quiet-standing angle by more than 10°.
    public static func fsstTime(channels: [[Double]], frameRate: Double) -> Double {
        let sm = channels.map { smooth($0, 3) }
        let w = max(3, Int(0.4 * frameRate))
        let bases = sm.map { $0[..<w].reduce(0, +) / Double(w) }
        let n = sm.first?.count ?? 0
        var first: Int?, lastActive = 0
        for i in 0..<n {
            var active = false
            for (c, b) in zip(sm, bases) where abs(c[i] - b) > 10 { active = true; break }
            if active { if first == nil { first = i }; lastActive = i }
        }
        return Double(lastActive - (first ?? 0)) / frameRate
    }
}
