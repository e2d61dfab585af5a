/// The tensor element types of ggml, as numbered in GGUF tensor infos.
///
/// Quantized types store values in fixed-size blocks: `blockSize` values take
/// `typeSize` bytes. Plain types have a block size of 1. Case names follow ggml's
/// spelling (`Q4_K`, `Q8_0`) so they can be matched against llama.cpp tooling output.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case bf16 = 30

    /// Number of values in one block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        }
    }

    /// Number of bytes in one block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8: return 1
        case .i64, .f64: return 8
        case .q4_0: return 2 + 16
        case .q4_1: return 2 + 2 + 16
        case .q5_0: return 2 + 4 + 16
        case .q5_1: return 2 + 2 + 4 + 16
        case .q8_0: return 2 + 32
        case .q8_1: return 4 + 4 + 32
        case .q2_K: return 16 + 64 + 2 + 2
        case .q3_K: return 32 + 64 + 12 + 2
        case .q4_K: return 2 + 2 + 12 + 128
        case .q5_K: return 2 + 2 + 12 + 32 + 128
        case .q6_K: return 128 + 64 + 16 + 2
        case .q8_K: return 4 + 256 + 32
        }
    }

    /// Whether ``GGMLDequantizer`` can turn this type into Float32.
    public var canDequantize: Bool { Self.dequantizable.contains(self) }

    /// The types ``GGMLDequantizer`` supports.
    public static let dequantizable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q5_0, .q4_K, .q5_K, .q6_K]

    /// ggml's name for the type (`F32`, `Q4_K`, ...).
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .f64: return "F64"
        case .bf16: return "BF16"
        }
    }

    public var description: String { name }

    /// Looks a type up by ggml's name (case-insensitive).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = match
    }
}
