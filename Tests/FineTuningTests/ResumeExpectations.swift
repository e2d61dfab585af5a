import Testing
@testable import FineTuning
@testable import LoRAAdapter

/// A resumed run ends where the uninterrupted one did: every trainable parameter of the
/// adapter and the final validation loss equal, bit for bit.
func expectResumedEqualsWhole(_ whole: LoRAAdapter, _ wholeResult: FineTuningResult,
                              _ resumed: LoRAAdapter, _ resumedResult: FineTuningResult,
                              sourceLocation: SourceLocation = #_sourceLocation) {
    for (p, q) in zip(whole.trainableParameters, resumed.trainableParameters) {
        #expect(p.name == q.name, sourceLocation: sourceLocation)
        #expect(p.value.scalars == q.value.scalars, "\(p.name)", sourceLocation: sourceLocation)
    }
    #expect(wholeResult.finalValidationLoss == resumedResult.finalValidationLoss, sourceLocation: sourceLocation)
}
