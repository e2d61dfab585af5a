import BiomechCore
import CHDF5Shim
import Foundation

/// LocoMuJoCo trajectories saved by numpy (`np.savez` / `savez_compressed`): one 1-D array
/// per coordinate named `q_<joint>` (radians; `q_pelvis_t*` and `*translation*` metres),
/// velocities `dq_<joint>`. Channels are the `q_` arrays without the prefix, angles
/// converted to degrees. Frame rate: `--frame-rate`, else an array named `frequency`
/// (or `freq`, `fps`), else estimated from the velocities (Δq ≈ dq · dt), else an error.
public enum NPZImporter {
    public static func read(_ url: URL, frameRate: Double?) throws -> Trial {
        let file = url.path
        let arrays = try readArchive(url)
        let qNames = arrays.keys.filter { $0.hasPrefix("q_") }.sorted { a, b in
            (arrays[a]!.order, a) < (arrays[b]!.order, b)
        }
        guard !qNames.isEmpty else {
            throw InputError(file: file, field: "q_*", "no q_* coordinate arrays in the archive",
                             allowed: Array(arrays.keys.sorted().prefix(10)))
        }
        let frames = arrays[qNames[0]]!.values.count
        for n in qNames {
            let a = arrays[n]!
            guard a.shape.count == 1 || (a.shape.count == 2 && a.shape[1] == 1) else {
                throw InputError(file: file, field: n, "expected a 1-D array of frames, got shape \(a.shape)")
            }
            guard a.values.count == frames else {
                throw InputError(file: file, field: n, "\(a.values.count) frames; \(qNames[0]) has \(frames)")
            }
            if let bad = a.values.firstIndex(where: { !$0.isFinite }) {
                throw InputError(file: file, field: n, "value at frame \(bad) is \(a.values[bad]); expected a finite number")
            }
        }
        guard frames >= 2 else { throw InputError(file: file, field: qNames[0], "a trial needs at least two frames") }
        var rate = frameRate
        if rate == nil {
            for k in ["frequency", "freq", "fps"] { if let a = arrays[k], let x = a.values.first, x > 0 { rate = x; break } }
        }
        if rate == nil { rate = estimateRate(arrays, qNames: qNames) }
        guard let rate else {
            throw InputError(file: file, field: "--frame-rate", "the archive stores no frame rate and no dq_* velocities to estimate it; give --frame-rate")
        }
        let names = qNames.map { String($0.dropFirst(2)) }
        let units = names.map { Importers.unit(forChannel: $0, angles: .degrees) }
        var values = [Float](repeating: 0, count: frames * names.count)
        for (c, n) in qNames.enumerated() {
            let v = arrays[n]!.values
            let scale = units[c] == .degrees ? 180 / Double.pi : 1
            for f in 0..<frames { values[f * names.count + c] = Float(v[f] * scale) }
        }
        let stem = Importers.stem(url)
        return try Trial(id: stem, participantID: stem, frameRate: rate,
                         channels: zip(names, units).map { Channel($0, unit: $1) }, values: values, sourceFile: file)
    }

    /// dt from the velocities: q(t) - q(0) = dt · ∫dq (cumulative trapezoid), fitted by
    /// least squares over every coordinate. Integrating first keeps the noise of the
    /// velocities from biasing the estimate. Rates within 2 % of a common recording rate snap to it.
    static func estimateRate(_ arrays: [String: NPYArray], qNames: [String]) -> Double? {
        var num = 0.0, den = 0.0
        for q in qNames {
            guard let dq = arrays["d" + q]?.values, let qv = arrays[q]?.values, dq.count == qv.count, qv.count > 2 else { continue }
            if (1..<qv.count).contains(where: { abs(qv[$0] - qv[$0 - 1]) > .pi }) { continue }  // wrapped angle
            var c = [Double](repeating: 0, count: qv.count)
            for i in 1..<qv.count { c[i] = c[i - 1] + (dq[i] + dq[i - 1]) / 2 }
            let cm = c.reduce(0, +) / Double(c.count)
            let ym = qv.reduce(0, +) / Double(qv.count)
            for i in 0..<qv.count { num += (c[i] - cm) * (qv[i] - ym); den += (c[i] - cm) * (c[i] - cm) }
        }
        guard den > 0, num > 0 else { return nil }
        let rate = den / num
        for common in [24.0, 25, 30, 50, 60, 100, 120, 150, 200, 240, 250, 300, 400, 500, 1000] where abs(rate - common) < 0.02 * common {
            return common
        }
        return rate
    }

    struct NPYArray { var shape: [Int]; var values: [Double]; var order: Int }

    /// Reads every .npy member of a zip archive (stored or deflated).
    static func readArchive(_ url: URL) throws -> [String: NPYArray] {
        let file = url.path
        let data: [UInt8]
        do { data = [UInt8](try Data(contentsOf: url)) } catch { throw InputError(file: file, "cannot read the file") }
        func u16(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        // End of central directory: the last "PK\5\6" within the final 64 KiB.
        guard data.count >= 22 else { throw InputError(file: file, "too short to be a .npz (zip) archive") }
        var eocd = -1
        var p = data.count - 22
        while p >= max(0, data.count - 65_557) {
            if data[p] == 0x50 && data[p + 1] == 0x4b && data[p + 2] == 5 && data[p + 3] == 6 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw InputError(file: file, "not a zip archive, or truncated (no end-of-central-directory record)") }
        let entries = u16(eocd + 10), cdOffset = u32(eocd + 16)
        var out: [String: NPYArray] = [:]
        var o = cdOffset
        for k in 0..<entries {
            guard o + 46 <= data.count, u32(o) == 0x0201_4b50 else {
                throw InputError(file: file, field: "zip entry \(k)", "corrupt central directory (truncated archive?)")
            }
            let method = u16(o + 10), csize = u32(o + 20), usize = u32(o + 24)
            let nlen = u16(o + 28), elen = u16(o + 30), clen = u16(o + 32), local = u32(o + 42)
            guard o + 46 + nlen <= data.count else { throw InputError(file: file, field: "zip entry \(k)", "truncated entry name") }
            let name = String(decoding: data[(o + 46)..<(o + 46 + nlen)], as: UTF8.self)
            o += 46 + nlen + elen + clen
            guard name.hasSuffix(".npy") else { continue }
            let key = String(name.dropLast(4))
            guard local + 30 <= data.count, u32(local) == 0x0403_4b50 else {
                throw InputError(file: file, field: key, "corrupt local header (truncated archive?)")
            }
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            guard start + csize <= data.count else { throw InputError(file: file, field: key, "member data runs past the end of the file (truncated archive)") }
            var member: [UInt8]
            switch method {
            case 0:
                guard usize == csize else {
                    throw InputError(file: file, field: key, "stored member of \(csize) bytes claims \(usize) uncompressed bytes (corrupt archive)")
                }
                member = Array(data[start..<(start + usize)])
            case 8:
                member = [UInt8](repeating: 0, count: usize)
                let rc = data.withUnsafeBufferPointer { src in
                    member.withUnsafeMutableBufferPointer { dst in
                        bgpt_inflate_raw(src.baseAddress! + start, csize, dst.baseAddress, usize)
                    }
                }
                guard rc == 0 else { throw InputError(file: file, field: key, "corrupt compressed member") }
            default: throw InputError(file: file, field: key, "unsupported zip compression method \(method) (expected stored or deflate)")
            }
            var arr = try parseNPY(member, file: file, key: key)
            arr.order = k
            out[key] = arr
        }
        return out
    }

    static func parseNPY(_ b: [UInt8], file: String, key: String) throws -> NPYArray {
        guard b.count >= 10, b[0] == 0x93, String(decoding: b[1..<6], as: UTF8.self) == "NUMPY" else {
            throw InputError(file: file, field: key, "not a .npy array (bad magic)")
        }
        let major = b[6]
        let hlen: Int, hstart: Int
        if major == 1 { hlen = Int(b[8]) | Int(b[9]) << 8; hstart = 10 } else {
            guard b.count >= 12 else { throw InputError(file: file, field: key, "truncated .npy header") }
            hlen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; hstart = 12
        }
        guard hstart + hlen <= b.count else { throw InputError(file: file, field: key, "truncated .npy header") }
        let header = String(decoding: b[hstart..<(hstart + hlen)], as: UTF8.self)
        func value(_ k: String) -> String? {
            guard let r = header.range(of: "'\(k)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let d = value("descr"), let q1 = d.firstIndex(of: "'"),
              let q2 = d[d.index(after: q1)...].firstIndex(of: "'") else {
            throw InputError(file: file, field: key, "the .npy header has no dtype ('descr')")
        }
        let descr = String(d[d.index(after: q1)..<q2])
        if value("fortran_order")?.hasPrefix("True") == true {
            throw InputError(file: file, field: key, "Fortran-ordered arrays are not supported; save with C order")
        }
        guard let s = value("shape"), let open = s.firstIndex(of: "("), let close = s.firstIndex(of: ")") else {
            throw InputError(file: file, field: key, "the .npy header has no shape")
        }
        let shape = s[s.index(after: open)..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard let count = checkedProduct(shape), count <= b.count else {
            throw InputError(file: file, field: key, "shape \(shape) is not a valid array shape for a member of \(b.count) bytes")
        }
        let body = hstart + hlen
        let size: Int
        switch descr.dropFirst() {
        case "f8", "i8", "u8": size = 8
        case "f4", "i4", "u4": size = 4
        case "i2", "u2", "f2": size = 2
        case "b1", "i1", "u1": size = 1
        default: throw InputError(file: file, field: key, "unsupported dtype '\(descr)'", allowed: ["<f8", "<f4", "<i8", "<i4"])
        }
        guard descr.first != ">" || size == 1 else { throw InputError(file: file, field: key, "big-endian arrays are not supported") }
        guard body + count * size <= b.count else {
            throw InputError(file: file, field: key, "array data is truncated: expected \(count) values of \(size) bytes")
        }
        var values = [Double](repeating: 0, count: count)
        b.withUnsafeBytes { raw in
            let base = raw.baseAddress! + body
            for i in 0..<count {
                let p = base + i * size
                switch descr.dropFirst() {
                case "f8": values[i] = Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
                case "f4": values[i] = Double(Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))))
                case "i8": values[i] = Double(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
                case "u8": values[i] = Double(UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
                case "i4": values[i] = Double(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
                case "u4": values[i] = Double(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                case "i2": values[i] = Double(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
                case "u2": values[i] = Double(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
                case "f2": values[i] = Double(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))))
                case "i1": values[i] = Double(p.load(as: Int8.self))
                default: values[i] = Double(p.load(as: UInt8.self))
                }
            }
        }
        return NPYArray(shape: shape, values: values, order: 0)
    }
}
