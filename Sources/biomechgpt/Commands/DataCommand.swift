import ArgumentParser
import BiomechCore
import CohortSimulator
import Foundation
import MotionData

/// `biomechgpt data import|synth|inspect`: data sets in, out and summarised.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Import, simulate and inspect motion data sets (HDF5).",
        subcommands: [DataImportCommand.self, DataSynthCommand.self, DataInspectCommand.self])
}

struct DataSynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate the simulated clinical cohort (synthetic data; see docs/simulated-cohort.md).")

    @Option(help: "Number of participants.") var participants = 100
    @Option(help: "Random seed; the same seed gives the same cohort.") var seed: UInt64 = 1
    @Option(name: .customLong("frame-rate"), help: "Frame rate in Hz.") var frameRate = 30.0
    @Option(help: "Scale of the markerless-tracking noise (0 = none).") var noise = 1.0
    @Option(help: "Output data set (.h5).") var out: String

    func run() throws {
        try reportingErrors {
            var config = CohortConfiguration(participants: participants, seed: seed)
            config.frameRate = frameRate
            config.noiseScale = noise
            guard noise >= 0, noise.isFinite else { throw InputError(field: "--noise", "expected a non-negative number, got \(noise)") }
            let start = Date()
            let dataset = try CohortSimulator.generate(config)
            let generated = Date().timeIntervalSince(start)
            try dataset.save(to: URL(fileURLWithPath: out))
            let total = Date().timeIntervalSince(start)
            print("wrote \(out): \(dataset.trials.count) trials of \(dataset.participantIDs.count) simulated participants "
                  + String(format: "(generated in %.1f s, %.1f s with writing)", generated, total))
        }
    }
}
