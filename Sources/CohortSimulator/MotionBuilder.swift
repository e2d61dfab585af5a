import BiomechCore
import Foundation

/// Accumulates frames of a trial: holds postures, morphs between them, walks and turns,
/// keeping the pelvis path (position, heading) and the gait phase continuous.
struct MotionBuilder {
    let dt: Double
    let style: GaitStyle
    var frames: [Double] = []
    var x = 0.0, z = 0.0, heading = 0.0   // path position (m) and heading (deg)
    var last: Pose
    var phase = 0.0
    var rng: SeededRandom
    private var strideScale = 1.0, ampScale = 1.0

    init(frameRate: Double, style: GaitStyle, start: Pose, heading: Double, rng: SeededRandom) {
        self.dt = 1 / frameRate; self.style = style; self.last = start; self.heading = heading; self.rng = rng
    }

    var frameCount: Int { frames.count / K.count }
    var time: Double { Double(frameCount) * dt }

    /// Appends one frame, turning path-relative pelvis offsets into global coordinates.
    private mutating func emit(_ p: Pose) {
        let h = heading * .pi / 180
        var out = p
        let fwd = p[K.tx], right = p[K.tz]
        out[K.tx] = x + fwd * cos(h) + right * sin(h)
        out[K.tz] = z - fwd * sin(h) + right * cos(h)
        out[K.rot] = heading + p[K.rot]
        frames.append(contentsOf: out)
        last = p
    }

    /// Emits `p(t)` for `duration` seconds, cross-fading from the previous pose over `blend` s.
    private mutating func segment(duration: Double, blend: Double = 0.35, _ pose: (inout MotionBuilder, Double) -> Pose) {
        let start = last
        let n = max(1, Int((duration / dt).rounded()))
        for f in 0..<n {
            let t = Double(f) * dt
            let p = pose(&self, t)
            emit(blend > 0 && t < blend ? GaitKit.blend(start, p, smoothstep(t / blend)) : p)
        }
    }

    /// Holds a posture with postural sway (`sway` in metres of pelvis excursion).
    mutating func hold(_ pose: Pose, duration: Double, sway: Double) {
        let f1 = rng.uniform(0.15, 0.35), f2 = rng.uniform(0.4, 0.9), p1 = rng.uniform(0, 6.3), p2 = rng.uniform(0, 6.3)
        segment(duration: duration) { _, t in
            var p = pose
            let ap = sway * (sin(2 * .pi * f1 * t + p1) + 0.4 * sin(2 * .pi * f2 * t + p2))
            let ml = sway * 0.8 * (sin(2 * .pi * f1 * 0.8 * t + p2) + 0.3 * sin(2 * .pi * f2 * 1.3 * t + p1))
            p[K.tx] += ap
            p[K.tz] += ml
            let degPerM = 60.0  // sway about the ankles
            p[K.ankle[0]] += ap * degPerM; p[K.ankle[1]] += ap * degPerM
            p[K.hipAdd[0]] -= ml * 40; p[K.hipAdd[1]] += ml * 40
            return p
        }
    }

    /// Morphs through key postures at normalised times (0...1) with smooth steps.
    mutating func morph(_ keys: [(Double, Pose)], duration: Double) {
        segment(duration: duration, blend: 0.1) { _, t in
            let u = t / duration
            var j = 0
            while j + 1 < keys.count - 1 && keys[j + 1].0 <= u { j += 1 }
            let (t0, a) = keys[j], (t1, b) = keys[min(j + 1, keys.count - 1)]
            let w = t1 > t0 ? smoothstep((u - t0) / (t1 - t0)) : 1
            return GaitKit.blend(a, b, w)
        }
    }

    /// Walks `distance` metres along the heading (turning by `turn` degrees on the way) at
    /// `speed` with `cadence` steps/min. `amp` scales the gait excursions (turns on the spot
    /// use less). Ramps speed up and down at the ends when asked.
    mutating func walk(distance: Double, turn: Double = 0, speed: Double, cadence: Double,
                       amp: Double = 1, rampIn: Bool = false, rampOut: Bool = false, minDuration: Double = 0) {
        let strideFreq = cadence / 120
        var travelled = 0.0
        let turnTime = max(minDuration, distance / max(speed * (rampIn || rampOut ? 0.85 : 1), 0.05))
        let turnRate = turn / turnTime
        let vn = speed / 1.3
        let start = last
        var t = 0.0
        var frameIndex = 0
        while travelled < distance - 1e-6 || t < minDuration {
            let rIn = rampIn ? smoothstep(t / 1.0) * 0.7 + 0.3 : 1
            let remaining = distance - travelled
            let rOut = rampOut ? clamp(remaining / max(speed * 0.8, 0.2), 0.3, 1) : 1
            let r = min(rIn, rOut)
            let v = distance > 0 ? speed * r : 0
            let before = phase
            phase += strideFreq * strideScale * dt * (0.6 + 0.4 * r)
            if floor(phase) != floor(before) {
                strideScale = clamp(1 + style.strideCV * rng.nextGaussian(), 0.7, 1.3)
                ampScale = clamp(1 + style.amplitudeCV * rng.nextGaussian(), 0.7, 1.3)
            }
            var p = style.gaitPose(phase: phase, vn: vn, amp: amp * (0.55 + 0.45 * r), ampJitter: ampScale)
            if frameIndex * 1 < Int(0.35 / dt) { p = GaitKit.blend(start, p, smoothstep(Double(frameIndex) * dt / 0.35)) }
            emit(p)
            let h = heading * .pi / 180
            x += v * dt * cos(h); z -= v * dt * sin(h)
            travelled += v * dt
            heading += turnRate * dt
            t += dt
            frameIndex += 1
            if t > 120 { break }  // never loop forever on a degenerate speed
        }
    }

    /// Turns on the spot by `degrees` in `duration` seconds with small steps.
    mutating func turn(_ degrees: Double, duration: Double, cadence: Double, amp: Double) {
        walk(distance: 0, turn: degrees, speed: 0.15, cadence: cadence, amp: amp, minDuration: duration)
    }

    /// One Four-Square-Step-Test move: the lead leg steps over the stick into the next
    /// square (`direction` in degrees relative to the heading: 0 forward, 90 right, 180
    /// back, -90 left), the trail leg follows, and the pelvis moves 0.5 m.
    mutating func fsstMove(direction: Double, lead: Int, duration: Double, clearance: Double) {
        let base = last
        let stand = style.standingPose()
        let sx = cos(direction * .pi / 180) * 0.5, sz = sin(direction * .pi / 180) * 0.5
        let x0 = x, z0 = z
        let h = heading * .pi / 180
        let trail = 1 - lead
        let sideways = abs(sin(direction * .pi / 180)) > 0.5
        let backward = cos(direction * .pi / 180) < -0.5
        segment(duration: duration, blend: 0.15) { b, t in
            let u = t / duration
            var p = GaitKit.blend(base, stand, smoothstep(u / 0.2))
            for (leg, start) in [(lead, 0.0), (trail, 0.42)] {
                let w = window(u, start, start + 0.5) * clearance
                if backward {
                    p[K.hipFlex[leg]] += 12 * w
                    p[K.knee[leg]] -= 75 * w
                } else {
                    p[K.hipFlex[leg]] += (sideways ? 35 : 50) * w
                    p[K.knee[leg]] -= (sideways ? 55 : 70) * w
                }
                if sideways { p[K.hipAdd[leg]] -= 18 * w }
                p[K.ankle[leg]] += 8 * w
                let other = 1 - leg
                p[K.knee[other]] -= 8 * w
                p[K.list] += (leg == 0 ? 1 : -1) * 3 * w
                p[K.lumbarBend] += (leg == 0 ? -1 : 1) * 3 * w
                p[K.armAdd[0]] -= 6 * w; p[K.armAdd[1]] -= 6 * w
            }
            let m = smoothstep((u - 0.1) / 0.75)
            b.x = x0 + (sx * cos(h) + sz * sin(h)) * m
            b.z = z0 + (-sx * sin(h) + sz * cos(h)) * m
            return p
        }
    }
}

enum GaitKit {
    static func blend(_ a: Pose, _ b: Pose, _ t: Double) -> Pose { blendPoses(a, b, t) }
}
