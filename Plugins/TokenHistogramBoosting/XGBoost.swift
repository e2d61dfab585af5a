import BiomechCore
import CXGBoost
import Foundation

/// An error reported by XGBoost's C API (the text of `XGBGetLastError()`).
public struct XGBoostError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var message: String
    public var description: String { "XGBoost \(call) failed: \(message)" }
}

@inline(__always) func xgbCheck(_ rc: Int32, _ call: String) throws {
    guard rc == 0 else {
        let text = XGBGetLastError().map { String(cString: $0) } ?? "unknown error"
        throw XGBoostError(call: call, message: text)
    }
}

/// A dense row-major float matrix in XGBoost's memory (`DMatrix`).
final class XGBMatrix {
    let handle: DMatrixHandle
    let rows: Int

    init(values: [Float], rows: Int, columns: Int, labels: [Float]? = nil) throws {
        precondition(values.count == rows * columns, "matrix values do not fill rows × columns")
        var out: DMatrixHandle?
        try values.withUnsafeBufferPointer { buffer in
            try xgbCheck(XGDMatrixCreateFromMat(buffer.baseAddress, bst_ulong(rows), bst_ulong(columns), Float.nan, &out),
                         "XGDMatrixCreateFromMat")
        }
        guard let out else { throw XGBoostError(call: "XGDMatrixCreateFromMat", message: "no matrix returned") }
        handle = out
        self.rows = rows
        if let labels {  // a thrown error from here runs deinit, which frees the matrix
            try labels.withUnsafeBufferPointer { buffer in
                try xgbCheck(XGDMatrixSetFloatInfo(handle, "label", buffer.baseAddress, bst_ulong(labels.count)), "XGDMatrixSetFloatInfo(label)")
            }
        }
    }

    deinit { XGDMatrixFree(handle) }
}

/// A gradient-boosted tree model trained through XGBoost's C API (libxgboost).
public final class XGBBooster {
    let handle: BoosterHandle
    public let parameters: [(String, String)]

    /// Trains `rounds` boosting rounds on `values` (rows × columns) with `labels`.
    public init(values: [Float], rows: Int, columns: Int, labels: [Float], parameters: [(String, String)], rounds: Int) throws {
        let train = try XGBMatrix(values: values, rows: rows, columns: columns, labels: labels)
        var out: BoosterHandle?
        var matrices: [DMatrixHandle?] = [train.handle]
        try xgbCheck(XGBoosterCreate(&matrices, 1, &out), "XGBoosterCreate")
        guard let out else { throw XGBoostError(call: "XGBoosterCreate", message: "no booster returned") }
        handle = out
        self.parameters = parameters
        // Every stored property is set: from here a thrown error runs deinit, which frees the booster.
        for (key, value) in parameters { try xgbCheck(XGBoosterSetParam(handle, key, value), "XGBoosterSetParam(\(key)=\(value))") }
        for round in 0..<rounds { try xgbCheck(XGBoosterUpdateOneIter(handle, Int32(round), train.handle), "XGBoosterUpdateOneIter") }
        withExtendedLifetime(train) {}
    }

    /// Loads a model saved with `save(to:)` (XGBoost's JSON model format).
    public init(contentsOf url: URL, parameters: [(String, String)] = []) throws {
        var out: BoosterHandle?
        try xgbCheck(XGBoosterCreate(nil, 0, &out), "XGBoosterCreate")
        guard let out else { throw XGBoostError(call: "XGBoosterCreate", message: "no booster returned") }
        handle = out
        self.parameters = parameters
        // A thrown error from here runs deinit, which frees the booster.
        try xgbCheck(XGBoosterLoadModel(handle, url.path), "XGBoosterLoadModel(\(url.path))")
        for (key, value) in parameters where key == "nthread" { try xgbCheck(XGBoosterSetParam(handle, key, value), "XGBoosterSetParam") }
    }

    deinit { XGBoosterFree(handle) }

    /// Raw predictions: one value per row (regression, binary) or `num_class` per row (softprob).
    public func predict(values: [Float], rows: Int, columns: Int) throws -> [Float] {
        let matrix = try XGBMatrix(values: values, rows: rows, columns: columns)
        var length: bst_ulong = 0
        var result: UnsafePointer<Float>?
        try xgbCheck(XGBoosterPredict(handle, matrix.handle, 0, 0, 0, &length, &result), "XGBoosterPredict")
        guard let result else { return [] }
        let out = Array(UnsafeBufferPointer(start: result, count: Int(length)))
        withExtendedLifetime(matrix) {}
        return out
    }

    /// Saves the model (JSON when the file name ends in `.json`), atomically.
    public func save(to url: URL) throws {
        let ext = url.pathExtension.isEmpty ? "json" : url.pathExtension
        try AtomicFile.produce(url) { temporary in
            // XGBoost picks the format from the extension: keep it on the temporary name.
            let named = temporary.appendingPathExtension(ext)
            try xgbCheck(XGBoosterSaveModel(handle, named.path), "XGBoosterSaveModel")
            if rename(named.path, temporary.path) != 0 { throw InputError(file: url.path, "could not move the saved model into place") }
        }
    }
}
