import Foundation

/// Turns a trial into the feature matrix a tokenizer reads, and back.
///
/// Contract:
/// - Input: a `Trial` in any coordinate set the implementation understands (OpenSim,
///   LocoMuJoCo, Kinect angles, ...). Output: a `FeatureMatrix` with a fixed list of named
///   channels (`channelNames`) and a mask of the channels the source observed.
/// - `fit(training:)` is called once with the **training split only**; it fits the
///   normalisation (per-channel mean and standard deviation). `features(of:)` returns
///   normalised features and throws if called before `fit` or `load`.
/// - `angles(from:)` inverts the normalisation and the preprocessing so reconstruction
///   errors can be reported in degrees (channel names as in `channelNames`).
/// - `save(to:)` writes the fitted state into a directory (JSON); `load(from:)` restores it.
/// - Throws `InputError` for a trial that lacks required channels, has a frame rate it
///   cannot resample, or is too short, naming the trial's source file and the channel.
public protocol MotionRepresentation: AnyObject {
    /// The output channels, in order.
    var channelNames: [String] { get }
    /// True once `fit` or `load` has run.
    var isFitted: Bool { get }
    func fit(training: [Trial]) throws
    func features(of trial: Trial) throws -> FeatureMatrix
    func angles(from features: FeatureMatrix) throws -> FeatureMatrix
    func save(to directory: URL) throws
    func load(from directory: URL) throws
}
