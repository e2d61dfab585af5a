import BiomechCore
import Foundation

/// One (task, model, metric) over repeated runs.
public struct ReportEntry: Sendable, Codable, Equatable {
    public var task: String
    public var model: String
    public var kind: TaskKind
    public var metric: TaskMetric
    /// Whether `metric` is the task's headline metric (the one in the Markdown tables).
    public var headline: Bool
    public var value: MeanStd
    /// Answers scored, summed over runs, and how many of them could not be parsed.
    public var answers: Int
    public var unparseable: Int
}

/// Scores of several models on several tasks over repeated runs, rendered like the paper's
/// Tables 2 (classification, F1) and 3 (regression, Pearson r): rows are tasks, columns are
/// models, cells `mean ± std` (sample standard deviation over runs).
public struct Report: Sendable {
    public var title: String
    public var scores: [TaskScore]
    public var tasks: [TaskInfo]
    /// The split the scores are on, named in the table notes (`test`, `train`, `validation`).
    public var split: String

    /// Models to put first, in this order (when present); the others follow in order of
    /// appearance.
    public var leadingModels: [String]

    public init(scores: [TaskScore], tasks: [TaskInfo] = [], title: String = "Results", split: String = "test",
                leadingModels: [String] = []) {
        self.scores = scores; self.tasks = tasks; self.title = title; self.split = split; self.leadingModels = leadingModels
    }

    /// Tasks in the order given, then any others in order of appearance.
    public var taskOrder: [String] {
        var order = tasks.map(\.id).filter { id in scores.contains { $0.task == id } }
        for s in scores where !order.contains(s.task) { order.append(s.task) }
        return order
    }

    public var modelOrder: [String] {
        var order = leadingModels.filter { m in scores.contains { $0.model == m } }
        for s in scores where !order.contains(s.model) { order.append(s.model) }
        return order
    }

    func runs(task: String, model: String) -> [TaskScore] { scores.filter { $0.task == task && $0.model == model } }

    public var entries: [ReportEntry] {
        var out: [ReportEntry] = []
        for task in taskOrder {
            for model in modelOrder {
                let runs = runs(task: task, model: model)
                guard let first = runs.first else { continue }
                let info = tasks.first { $0.id == task }
                let headline = info?.metric ?? first.metric
                for metric in TaskMetric.allowed(for: first.kind) {
                    out.append(ReportEntry(task: task, model: model, kind: first.kind, metric: metric, headline: metric == headline,
                                           value: MeanStd(runs.map { $0.value(metric) }),
                                           answers: runs.reduce(0) { $0 + $1.count }, unparseable: runs.reduce(0) { $0 + $1.unparseable }))
                }
            }
        }
        return out
    }

    /// The Markdown report: one table per task kind (headline metric, mean ± std over runs),
    /// then the unparseable answers per task and model.
    public var markdown: String {
        let entries = self.entries.filter(\.headline)
        let models = modelOrder
        var text = "# \(title)\n\n"
        for kind in TaskKind.allCases {
            let rows = taskOrder.filter { t in entries.contains { $0.task == t && $0.kind == kind } }
            guard !rows.isEmpty else { continue }
            // Only the models that answer this kind of task (ranked answers: classification only).
            let columns = models.filter { m in entries.contains { $0.model == m && $0.kind == kind } }
            text += kind == .classification ? "## Classification\n\n" : "## Regression\n\n"
            text += "| task | metric | " + columns.map(mdEscape).joined(separator: " | ") + " |\n"
            text += "|---|---|" + String(repeating: "---:|", count: columns.count) + "\n"
            for task in rows {
                let metric = entries.first { $0.task == task }!.metric
                let cells = columns.map { m in entries.first { $0.task == task && $0.model == m }?.value.formatted() ?? "" }
                text += "| \(mdEscape(task)) | \(metric.title) | " + cells.joined(separator: " | ") + " |\n"
            }
            text += "\n"
        }
        let runCounts = Set(entries.map(\.value.runs))
        text += "Cells are mean ± sample standard deviation over \(runCounts.count == 1 ? "\(runCounts.first!)" : "repeated") run(s) on the \(split) split; F1 is macro-averaged unless the metric says otherwise.\n\n"
        text += "## Unparseable answers\n\n"
        text += "| task | " + models.map(mdEscape).joined(separator: " | ") + " |\n"
        text += "|---|" + String(repeating: "---:|", count: models.count) + "\n"
        for task in taskOrder {
            let cells = models.map { m -> String in
                guard let e = entries.first(where: { $0.task == task && $0.model == m }) else { return "" }
                return "\(e.unparseable) / \(e.answers)"
            }
            text += "| \(mdEscape(task)) | " + cells.joined(separator: " | ") + " |\n"
        }
        return text
    }

    /// Long-format CSV: one row per task, model and metric.
    public var csv: String {
        var lines = ["task,model,kind,metric,headline,mean,std,runs,answers,unparseable"]
        for e in entries {
            let fields = [e.task, e.model, e.kind.rawValue, e.metric.rawValue, e.headline ? "true" : "false",
                          e.value.mean.isFinite ? String(e.value.mean) : "",
                          e.value.std.map { String($0) } ?? "", String(e.value.runs), String(e.answers), String(e.unparseable)]
            lines.append(fields.map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    struct JSONForm: Encodable {
        var title: String
        var tasks: [TaskInfo]
        var summary: [ReportEntry]
        var scores: [TaskScore]
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try encoder.encode(JSONForm(title: title, tasks: tasks, summary: entries, scores: scores))
    }

    /// Confusion matrices summed over runs, per classification task and model.
    public func pooledConfusion(task: String, model: String) -> ClassificationMetrics? {
        let runs = runs(task: task, model: model).compactMap(\.classification)
        guard !runs.isEmpty else { return nil }
        var labels = tasks.first { $0.id == task }?.classes.filter { c in runs.contains { $0.labels.contains(c) } } ?? []
        for r in runs { for l in r.labels where !labels.contains(l) { labels.append(l) } }
        var truth: [String] = [], predicted: [String?] = []
        for r in runs {
            for (i, row) in r.confusion.enumerated() {
                for (j, count) in row.enumerated() where count > 0 {
                    let p: String? = j < r.labels.count ? r.labels[j] : nil
                    truth += Array(repeating: r.labels[i], count: count)
                    predicted += Array(repeating: p, count: count)
                }
            }
        }
        return ClassificationMetrics(truth: truth, predicted: predicted, classes: labels)
    }

    /// Writes `report.md`, `scores.csv`, `scores.json` and `figures/*.svg` into `directory`
    /// (each file atomically). Returns the files written.
    @discardableResult
    public func write(to directory: URL) throws -> [URL] {
        var written: [URL] = []
        func put(_ name: String, _ data: Data) throws {
            let url = directory.appendingPathComponent(name)
            try AtomicFile.write(data, to: url)
            written.append(url)
        }
        try put("report.md", Data(markdown.utf8))
        try put("scores.csv", Data(csv.utf8))
        try put("scores.json", jsonData())
        for task in taskOrder {
            let info = tasks.first { $0.id == task }
            for model in modelOrder {
                let runs = runs(task: task, model: model)
                guard let first = runs.first else { continue }
                let stem = "\(fileSafe(task))__\(fileSafe(model))"
                switch first.kind {
                case .classification:
                    if let pooled = pooledConfusion(task: task, model: model) {
                        try put("figures/confusion__\(stem).svg",
                                Data(SVGPlots.confusionMatrix(pooled, title: "\(task) — \(model)").utf8))
                    }
                case .regression:
                    let points = runs.flatMap { $0.points ?? [] }
                    let unparsed = runs.reduce(0) { $0 + $1.unparseable }
                    let metrics = RegressionMetrics(truth: points.map { $0[0] } + Array(repeating: 0, count: unparsed),
                                                    predicted: points.map { Optional($0[1]) } + Array(repeating: nil, count: unparsed))
                    try put("figures/scatter__\(stem).svg",
                            Data(SVGPlots.scatter(points: points, metrics: metrics, title: "\(task) — \(model)", unit: info?.unit).utf8))
                }
            }
        }
        return written
    }
}

func mdEscape(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

func csvField(_ s: String) -> String {
    s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

func fileSafe(_ s: String) -> String {
    String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
}
