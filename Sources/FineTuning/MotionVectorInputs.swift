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
///
/// Two sources of vectors: fixed encodings (the encode stage's, from a frozen encoder), or
/// an encoder trained with the model, which encodes each trial's features on every use and
/// receives the gradient of its vectors (saved as `motion_encoder.safetensors`).
public final class MotionVectorInputs {
    public static let fileName = "motion_projection.safetensors"
    public static let encoderFileName = "motion_encoder.safetensors"

    public let projection: VectorProjection
    public let placeholderID: Int
    /// The encoder trained with the model (nil: fixed encodings).
    public let encoder: (any TrainableMotionEncoder)?
    public var width: Int { projection.inputWidth }
    private var vectorsByTrial: [String: [Float]] = [:]
    private let featuresByTrial: [String: FeatureMatrix]

    /// Fixed vectors. `encodings`: trial id → continuous encoding (every one of width
    /// `projection.inputWidth`).
    public init(projection: VectorProjection, placeholderID: Int, encodings: [String: MotionEncoding]) throws {
        self.projection = projection
        self.placeholderID = placeholderID
        encoder = nil
        featuresByTrial = [:]
        for (trial, encoding) in encodings { try add(trial: trial, encoding: encoding) }
    }

    /// Vectors from an encoder trained with the model. `features`: trial id → features.
    public init(projection: VectorProjection, placeholderID: Int, encoder: any TrainableMotionEncoder,
                features: [String: FeatureMatrix]) {
        self.projection = projection
        self.placeholderID = placeholderID
        self.encoder = encoder
        featuresByTrial = features
    }

    /// A description of the trained modules, recorded in checkpoints so a resume with other
    /// settings is refused.
    public var trainedModules: String {
        "\(projection.spec.kind.rawValue) projection \(projection.inputWidth)→\(projection.hiddenWidth)→\(projection.outputWidth)"
            + (encoder == nil ? "" : " + encoder")
    }

    /// What the optimizer trains: the projection's weights, and the encoder's when it is trained.
    public var parameters: [Parameter] { projection.parameters + (encoder?.encoderParameters ?? []) }


    /// Adds (or replaces) one trial's encoding, e.g. a recording given to `ask`.
    public func add(trial: String, encoding: MotionEncoding) throws {
        guard encoder == nil else { throw InputError(field: trial, "this run trains its encoder: give features, not an encoding") }
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
    public func prepareProjection(trainingTrials trials: [String], targetRMS: Float) throws {
        var values: [Float] = []
        for t in Set(trials).sorted() { values += try vectors(of: t) }
        let rows = values.count / width
        projection.setStandardization(from: values, rows: rows)
        projection.calibrate(on: values, rows: rows, targetRMS: targetRMS)
    }

    private func vectors(of trial: String) throws -> [Float] {
        if let encoder {
            guard let f = featuresByTrial[trial] else {
                throw InputError(field: trial, "no features for this trial")
            }
            return try encoder.encodeForTraining(f).scalars
        }
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
        for (b, s) in samples.enumerated() where !s.vectorSteps.isEmpty {
            let v = try vectors(of: s.trialID)
            let steps = v.count / width
            guard s.vectorPlaceholderCount == steps else {
                throw InputError(field: s.id, "the prompt has \(s.vectorPlaceholderCount) motion placeholders; trial '\(s.trialID)' has \(steps) steps (re-run the 'qa' stage after 'encode')")
            }
            for (position, step) in zip(s.vectorPositions, s.vectorSteps) {
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

    /// Propagates dL/d(projected vectors) of the last ``rows(for:)`` (same samples) into the
    /// projection and, when it is trained, the encoder. The encoder keeps one trial's
    /// activations — those of the last trial `rows(for:)` encoded — so samples are walked
    /// backwards and every other trial is encoded again right before its backward.
    public func backward(_ samples: [TrainingSample], gradient: Tensor) throws {
        let dRaw = projection.backward(gradient)
        guard let encoder else { return }
        var end = dRaw.rowCount
        var holdsActivations = true
        for s in samples.reversed() where !s.vectorSteps.isEmpty {
            let start = end - s.vectorSteps.count
            if !holdsActivations {
                guard let f = featuresByTrial[s.trialID] else { throw InputError(field: s.trialID, "no features for this trial") }
                _ = try encoder.encodeForTraining(f)
            }
            holdsActivations = false
            let dz = Tensor(shape: [s.vectorPlaceholderCount, width], repeating: 0)
            for (k, step) in s.vectorSteps.enumerated() {
                // Steps are distinct within a sample, so each gradient row is written once.
                (dz.data + step * width).update(from: dRaw.data + (start + k) * width, count: width)
            }
            encoder.backwardEncoder(dz)
            end = start
        }
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
        if let encoder {
            try Safetensors.write(Dictionary(uniqueKeysWithValues: encoder.encoderParameters.map { ($0.name, $0.value) }),
                                  to: directory.appendingPathComponent(Self.encoderFileName),
                                  metadata: ["format": "biomechgpt-motion-encoder"])
        }
    }

    public func load(from directory: URL) throws {
        let url = directory.appendingPathComponent(Self.fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw InputError(file: url.path, "missing: a run with continuous motion saves its projection beside the adapter")
        }
        try projection.load(Safetensors.read(url), file: url.path)
        guard let encoder else { return }
        let encoderURL = directory.appendingPathComponent(Self.encoderFileName)
        guard FileManager.default.fileExists(atPath: encoderURL.path) else {
            throw InputError(file: encoderURL.path, "missing: a run that trains its encoder saves it beside the adapter")
        }
        let tensors = try Safetensors.read(encoderURL)
        for p in encoder.encoderParameters {
            guard let t = tensors[p.name], t.shape == p.value.shape else {
                throw InputError(file: encoderURL.path, field: p.name, "missing or of another shape than \(p.value.shape)")
            }
            p.value.copy(from: t)
        }
    }
}
