import BiomechCore
import ClinicalTasks
import Foundation
import NumericsEngine

/// Continuous motion for fine-tuning, evaluation and `ask`: every trial's encoder vectors,
/// the id of the `<motion_vec>` placeholder piece, and the projection into the backbone's
/// embedding space that is trained together with the adapter.
///
/// In a prompt, the k-th placeholder of a trial's motion span stands for step k of its
/// encoding (after truncation, ``TrainingSample/vectorSteps`` says which steps remain).
/// The projection is saved beside the adapter as `motion_projection.safetensors`.
public final class MotionVectorInputs {
    public static let fileName = "motion_projection.safetensors"

    public let projection: VectorProjection
    public let placeholderID: Int
    public var width: Int { projection.inputWidth }
    private var vectorsByTrial: [String: [Float]]

    /// `encodings`: trial id → continuous encoding (every one of width `projection.inputWidth`).
    public init(projection: VectorProjection, placeholderID: Int, encodings: [String: MotionEncoding]) throws {
        self.projection = projection
        self.placeholderID = placeholderID
        vectorsByTrial = [:]
        for (trial, encoding) in encodings { try add(trial: trial, encoding: encoding) }
    }

    /// Adds (or replaces) one trial's encoding, e.g. a recording given to `ask`.
    public func add(trial: String, encoding: MotionEncoding) throws {
        guard case .vectors(let count, let w, let values) = encoding else {
            throw InputError(field: trial, "continuous motion inputs need vector encodings; this trial has discrete tokens")
        }
        guard w == width, values.count == count * w else {
            throw InputError(field: trial, "encoding of width \(w) with \(values.count) values; the projection reads width \(width)")
        }
        vectorsByTrial[trial] = values
    }

    /// Standardises the projection's inputs with the vectors of `trials` and scales its last
    /// layer so they start at `targetRMS` (the backbone's embedding RMS).
    public func prepareProjection(trainingTrials trials: [String], targetRMS: Float) {
        var values: [Float] = []
        for t in Set(trials).sorted() { values += vectorsByTrial[t] ?? [] }
        let rows = values.count / width
        projection.setStandardization(from: values, rows: rows)
        projection.calibrate(on: values, rows: rows, targetRMS: targetRMS)
    }

    private func vectors(of trial: String) throws -> [Float] {
        guard let v = vectorsByTrial[trial] else {
            throw InputError(field: trial, "no continuous encoding for this trial; re-run the 'encode' stage")
        }
        return v
    }

    /// The raw (unprojected) vectors of a micro-batch's placeholders, in sequence order,
    /// with their places; nil when no sample has any.
    func rawRows(for samples: [TrainingSample]) throws -> (sequences: [Int], indices: [Int], values: Tensor)? {
        let total = samples.reduce(0) { $0 + $1.vectorSteps.count }
        guard total > 0 else { return nil }
        let raw = Tensor(shape: [total, width])
        var sequences: [Int] = [], indices: [Int] = []
        var row = 0
        for (b, s) in samples.enumerated() {
            let v = try vectors(of: s.trialID)
            let steps = v.count / width
            for (position, step) in zip(s.vectorPositions, s.vectorSteps) {
                guard step < steps else {
                    throw InputError(field: s.id, "placeholder for step \(step) but trial '\(s.trialID)' has \(steps) steps")
                }
                v.withUnsafeBufferPointer { (raw.data + row * width).update(from: $0.baseAddress! + step * width, count: width) }
                sequences.append(b); indices.append(position); row += 1
            }
        }
        return (sequences, indices, raw)
    }

    /// The projected vectors of a micro-batch (the projection keeps what its backward needs).
    public func rows(for samples: [TrainingSample]) throws -> InputVectorRows? {
        guard let raw = try rawRows(for: samples) else { return nil }
        return InputVectorRows(sequences: raw.sequences, indices: raw.indices, values: projection.forward(raw.values))
    }

    /// A generation prompt with the trial's projected vectors at its placeholders; the
    /// number of placeholders must equal the encoding's steps.
    public func input(tokens: [Int], trialID: String) throws -> BackboneInput {
        let positions = tokens.indices.filter { tokens[$0] == placeholderID }
        guard !positions.isEmpty else { return BackboneInput(tokens: tokens) }
        let v = try vectors(of: trialID)
        let steps = v.count / width
        guard positions.count == steps else {
            throw InputError(field: trialID, "the prompt has \(positions.count) motion placeholders; the trial's encoding has \(steps) steps")
        }
        let projected = projection.forward(Tensor(shape: [steps, width], values: v))
        return BackboneInput(tokens: tokens, vectorPositions: positions, vectors: projected.scalars)
    }

    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Safetensors.write(projection.stateTensors, to: directory.appendingPathComponent(Self.fileName),
                              metadata: ["format": "biomechgpt-motion-projection", "kind": projection.spec.kind.rawValue,
                                         "hidden": String(projection.hiddenWidth)])
    }

    public func load(from directory: URL) throws {
        let url = directory.appendingPathComponent(Self.fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw InputError(file: url.path, "missing: a run with continuous motion saves its projection beside the adapter")
        }
        try projection.load(Safetensors.read(url), file: url.path)
    }
}
