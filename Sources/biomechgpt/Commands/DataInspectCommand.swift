import ArgumentParser
import BiomechCore
import Foundation
import MotionData

struct DataInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a data set: trials, participants, durations, frame rates, label balance; plot a trial.")

    @Argument(help: "The data set (.h5).") var file: String
    @Flag(help: "Print JSON instead of text.") var json = false
    @Option(help: "Trial id to plot.") var plot: String?
    @Option(help: "SVG file for the plot (default: <trial>.svg).") var svg: String?
    @Option(help: "Channels to plot (comma-separated; default: the main joint angles present).") var channels: String?

    func run() throws {
        try reportingErrors {
            let dataset = try MotionDataset.load(from: URL(fileURLWithPath: file))
            let summary = DatasetSummary(dataset)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            } else {
                print(summary.text, terminator: "")
            }
            if let plot {
                guard let trial = dataset.trials.first(where: { $0.id == plot }) else {
                    throw InputError(file: file, field: "--plot", "no trial '\(plot)' in the data set",
                                     allowed: Array(dataset.trials.prefix(8).map(\.id)) + (dataset.trials.count > 8 ? ["..."] : []))
                }
                let names = channels?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                let svgText = try TrialPlot.svg(trial, channels: names)
                let url = URL(fileURLWithPath: svg ?? "\(plot).svg")
                try AtomicFile.write(svgText, to: url)
                FileHandle.standardError.write(Data("wrote \(url.path)\n".utf8))
            }
        }
    }
}
