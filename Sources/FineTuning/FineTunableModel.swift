import BiomechCore
import NumericsEngine

/// What the trainer needs of a causal language model: a training step (forward, loss over
/// the masked targets, backward into the trainable parameters) and an evaluation loss.
///
/// `tokens` are unpadded sequences (the model pads a batch itself); `lossMask[b][i]` says
/// whether token `i` of sequence `b` is a prediction target (predicted from position
/// `i − 1`; token 0 never is). The loss is the mean over targets; gradients times
/// `gradScale` accumulate into the trainable parameters.
public protocol FineTunableModel: AnyObject {
    func fineTuningStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float) -> (loss: Double, tokenCount: Int)
    func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]]) -> (loss: Double, tokenCount: Int)
}
