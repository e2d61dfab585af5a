import BiomechCore
import Foundation
@testable import MotionData

/// `../shared/data` relative to the package root, or nil (tests then skip with a reason).
func sharedData(_ sub: String) -> URL? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let url = root.deletingLastPathComponent().appendingPathComponent("shared/data").appendingPathComponent(sub)
    guard FileManager.default.fileExists(atPath: url.path) else {
        print("skipping: \(url.path) is absent (the real data sets live in ../shared/data)")
        return nil
    }
    return url
}

func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("motiondata-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func write(_ text: String, _ name: String, in dir: URL) -> URL {
    let url = dir.appendingPathComponent(name)
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try! Data(text.utf8).write(to: url)
    return url
}

/// The real data sets, imported once per test process.
/// An import that failed is a test failure (the error is rethrown), never a skip.
enum Shared {
    static func load(_ sub: String, _ format: ImportFormat) -> Result<MotionDataset, InputError>? {
        sharedData(sub).map { url in
            Result { try Importers.importFiles(format: format, inputs: [url]) }.mapError { $0 as? InputError ?? InputError("\($0)") }
        }
    }
    static let uiPRMDResult = load("ui-prmd/kinect-angles", .uiPRMD)
    static let fgdiResult = load("fgdi", .fgdi)
    static let opensimResult = load("opensim", .opensim)
    static let locomujocoResult = load("locomujoco", .npz)
    static var uiPRMD: MotionDataset? { get throws { try uiPRMDResult?.get() } }
    static var fgdi: MotionDataset? { get throws { try fgdiResult?.get() } }
    static var opensim: MotionDataset? { get throws { try opensimResult?.get() } }
    static var locomujoco: MotionDataset? { get throws { try locomujocoResult?.get() } }
}

/// A minimal .npz (stored zip of .npy float64 arrays) for malformed-input tests.
func makeNPZ(_ arrays: [(String, [Double])]) -> [UInt8] {
    var out: [UInt8] = [], central: [UInt8] = []
    func le16(_ x: Int) -> [UInt8] { [UInt8(x & 0xff), UInt8((x >> 8) & 0xff)] }
    func le32(_ x: Int) -> [UInt8] { le16(x & 0xffff) + le16((x >> 16) & 0xffff) }
    for (name, values) in arrays {
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (\(values.count),), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var npy: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0] + le16(header.count) + Array(header.utf8)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { npy += $0 } }
        let fname = Array((name + ".npy").utf8)
        let offset = out.count
        out += le32(0x0403_4b50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(npy.count) + le32(npy.count)
            + le16(fname.count) + le16(0) + fname + npy
        central += le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            + le32(npy.count) + le32(npy.count) + le16(fname.count) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            + le32(offset) + fname
    }
    let cdOffset = out.count
    out += central
    out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(arrays.count) + le16(arrays.count) + le32(central.count) + le32(cdOffset) + le16(0)
    return out
}
