import ArgumentParser
import BiomechCore
import ClinicalTasks
import Foundation

/// `biomechgpt report RUN… [--out DIR]`: scores every run's predictions and writes the
/// tables (Markdown, CSV, JSON) and figures (SVG); several runs are put side by side.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Score predictions and write the report (tables shaped like the paper's Tables 2 and 3, CSV, JSON, SVG).",
        discussion: """
        Each RUN is a run folder holding predictions.jsonl and/or predictions/*.jsonl. With one run the report goes to \
        RUN/report unless --out says otherwise; with several, models are named RUN/model and --out is required.
        """)

    @Argument(help: "Run folders.") var runs: [String]
    @Option(help: "Where to write the report.") var out: String?
    @Option(help: "Which split to score: train, validation or test.") var split: String = "test"
    @Option(help: "The report's title.") var title: String = "Results"
    @OptionGroup var folders: TaskFolderOptions

    func run() throws {
        try reportingErrors {
            guard let side = SplitSide(rawValue: split) else {
                throw InputError(field: "--split", "unknown split '\(split)'", allowed: SplitSide.allCases.map(\.rawValue))
            }
            guard !runs.isEmpty else { throw InputError(field: "RUN", "name at least one run folder") }
            var predictions: [PredictionRecord] = []
            for run in runs {
                let url = URL(fileURLWithPath: run)
                var records = try PredictionsFile.readRun(url)
                if runs.count > 1 {
                    let name = url.standardizedFileURL.lastPathComponent
                    for i in records.indices { records[i].model = "\(name)/\(records[i].model)" }
                }
                predictions += records
            }
            let destination: URL
            if let out { destination = URL(fileURLWithPath: out) } else if runs.count == 1 {
                destination = URL(fileURLWithPath: runs[0]).appendingPathComponent("report")
            } else {
                throw InputError(field: "--out", "several runs need --out DIR for the combined report")
            }
            // Task order, classes and metrics from the catalog when it is available.
            let catalog = (try? folders.catalog(requireShipped: false)) ?? TaskCatalog()
            let infos = catalog.specs.map(TaskInfo.init)
            let scores = try Scoring.score(predictions, tasks: infos, split: side)
            guard !scores.isEmpty else {
                throw InputError(file: runs.joined(separator: ", "), "no predictions on the '\(split)' split")
            }
            let report = Report(scores: scores, tasks: infos, title: title, split: side.rawValue)
            let files = try report.write(to: destination)
            print(report.markdown)
            FileHandle.standardError.write(Data("wrote \(files.count) files to \(destination.path)\n".utf8))
        }
    }
}
