import Foundation

/// Locations the GGUF tests share.
enum TestPaths {
    /// The repository root, found from this source file's path.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The real Gemma 3 270M model: `$BIOMECHGPT_MODEL`, else `models/gemma-3-270m-q4_k_m.gguf`
    /// under the repository root. nil (with the reason printed) if the file is missing.
    static func realModel(for test: String) -> URL? {
        let env = ProcessInfo.processInfo.environment["BIOMECHGPT_MODEL"]
        let url = env.map { URL(fileURLWithPath: $0) }
            ?? repositoryRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        print("SKIP \(test): the real model is not at \(url.path); run `make model` to fetch it")
        return nil
    }

    static func fixture(_ name: String) throws -> URL {
        guard let base = Bundle.module.resourceURL else { throw CocoaError(.fileNoSuchFile) }
        return base.appendingPathComponent("Fixtures").appendingPathComponent(name)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("gguf-tests-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8? = nil
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: continue
            }
            if let h = high { bytes.append(h << 4 | v); high = nil } else { high = v }
        }
        self = bytes
    }

    /// Little-endian float32 values.
    var littleEndianFloats: [Float] {
        stride(from: 0, to: count - 3, by: 4).map { i in
            Float(bitPattern: UInt32(self[i]) | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2]) << 16 | UInt32(self[i + 3]) << 24)
        }
    }
}
