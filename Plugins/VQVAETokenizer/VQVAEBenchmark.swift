import BiomechCore
import Foundation
import NumericsEngine

/// Training throughput of the `vqvae` network (behind `biomechgpt bench vqvae`): full
/// training steps — forward, EMA quantizer update, losses, backward, AdamW — on a fixed
/// batch of smooth random signals, timed after warm-up steps.
public enum VQVAEBenchmark {
    public struct Result: Sendable {
        public var framesPerSecond: Double
        public var secondsPerStep: Double
        public var steps: Int
    }

    public static func run(configuration: VQVAEConfiguration, channels: Int, steps: Int, warmup: Int) -> Result {
        Threads.setCount(configuration.threads)
        let trainer = VQVAETrainer(configuration: configuration, inputChannels: channels)
        var rng = SeededRandom(seed: 99)
        let n = configuration.batchSize * configuration.window
        for c in 0..<channels {
            var x: Float = 0
            for i in 0..<n { x = 0.95 * x + 0.3 * Float(rng.nextGaussian()); trainer.batch.data[c * n + i] = x }
        }
        for _ in 0..<warmup { trainer.trainStep() }
        let start = ContinuousClock.now
        for _ in 0..<steps { trainer.trainStep() }
        let d = ContinuousClock.now - start
        let seconds = d.inSeconds
        return Result(framesPerSecond: Double(steps * n) / seconds, secondsPerStep: seconds / Double(steps), steps: steps)
    }
}
