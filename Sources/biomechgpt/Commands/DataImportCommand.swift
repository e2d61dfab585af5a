import ArgumentParser
import BiomechCore
import Foundation
import MotionData

struct DataImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import recordings into an HDF5 data set.",
        discussion: "Formats: \(ImportFormat.allCases.map(\.rawValue).joined(separator: ", ")). "
            + "Directories are searched for the format's files. See docs/data-format.md.")

    @Option(help: "Input format.") var format: String
    @Argument(help: "Input files or directories.") var inputs: [String]
    @Option(help: "Output data set (.h5).") var out: String
    @Option(help: "CSV of labels to attach (columns: trial_id or participant_id, then one column per label).")
    var labels: String?
    @Option(name: .customLong("frame-rate"), help: "Frame rate for formats that do not store one (npz, csv without a time column).")
    var frameRate: Double?
    @Option(help: "Name of the data set.") var name: String?

    func run() throws {
        try reportingErrors {
            guard let fmt = ImportFormat(rawValue: format) else {
                throw InputError(field: "--format", "unknown format '\(format)'", allowed: ImportFormat.allCases.map(\.rawValue))
            }
            var options = ImportOptions()
            options.frameRate = frameRate
            var dataset = try Importers.importFiles(format: fmt, inputs: inputs.map { URL(fileURLWithPath: $0) }, options: options)
            if let name { dataset.name = name }
            if let labels { try LabelTable.read(URL(fileURLWithPath: labels)).apply(to: &dataset) }
            try dataset.save(to: URL(fileURLWithPath: out))
            print("wrote \(out): \(dataset.trials.count) trials of \(dataset.participantIDs.count) participants (\(fmt.rawValue))")
        }
    }
}
