import BiomechCore
import ClinicalTasks
import Foundation
import FoundationXML
import Testing

final class XMLCheck: NSObject, XMLParserDelegate {
    var elements = 0
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) { elements += 1 }
}

func wellFormed(_ url: URL) throws -> Int {
    let parser = XMLParser(data: try Data(contentsOf: url))
    let check = XMLCheck()
    parser.delegate = check
    #expect(parser.parse(), "\(url.lastPathComponent): \(parser.parserError.map { "\($0)" } ?? "")")
    return check.elements
}

func samplePredictions() -> [PredictionRecord] {
    var out: [PredictionRecord] = []
    var random = SeededRandom(seed: 5)
    for model in ["biomechgpt", "token-histogram-boosting"] {
        for rep in 0..<3 {
            for i in 0..<30 {
                let truth = ["stroke", "sci", "prosthesis"][i % 3]
                let right = random.nextDouble() < (model == "biomechgpt" ? 0.8 : 0.6)
                let prediction: LabelValue? = i == 7 && model == "biomechgpt" ? nil : .category(right ? truth : "stroke")
                out.append(PredictionRecord(task: "diagnosis", trialID: "t\(i)", participantID: "p\(i / 3)", split: .test, model: model,
                                            repetition: rep, target: .category(truth), prediction: prediction,
                                            rawAnswer: model == "biomechgpt" ? "The diagnosis is <&>." : nil))
                let speed = 0.6 + Double(i) / 30
                out.append(PredictionRecord(task: "walking_speed", trialID: "t\(i)", participantID: "p\(i / 3)", split: .test, model: model,
                                            repetition: rep, target: .number(speed), prediction: .number(speed + random.nextGaussian() * 0.1)))
            }
            out.append(PredictionRecord(task: "walking_speed", trialID: "train0", participantID: "q", split: .train, model: model,
                                        repetition: rep, target: .number(1), prediction: .number(100)))
        }
    }
    return out
}

@Suite struct ReportTests {
    @Test func predictionsRoundTripWithNull() throws {
        let folder = try temporaryFolder()
        let records = samplePredictions()
        try PredictionsFile.write(records, to: folder.appendingPathComponent("predictions.jsonl"))
        #expect(try PredictionsFile.readRun(folder) == records)
        let text = try String(contentsOf: folder.appendingPathComponent("predictions.jsonl"), encoding: .utf8)
        #expect(text.contains("\"prediction\":null"))
        // A record from another writer, without the optional fields.
        try "{\"task\":\"x\",\"trial_id\":\"a\",\"participant_id\":\"p\",\"model\":\"m\",\"target\":\"yes\",\"prediction\":null}\n"
            .write(to: folder.appendingPathComponent("other.jsonl"), atomically: true, encoding: .utf8)
        let other = try PredictionsFile.read(from: folder.appendingPathComponent("other.jsonl"))
        #expect(other[0].split == .test && other[0].repetition == 0 && other[0].prediction == nil)
        try "{\"task\":1}\n".write(to: folder.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        #expect { try PredictionsFile.read(from: folder.appendingPathComponent("bad.jsonl")) } throws: { ($0 as? InputError)?.line == 1 }
    }

    @Test func scoresPerModelRepeatAndTask() throws {
        let scores = try Scoring.score(samplePredictions())
        #expect(scores.count == 2 * 3 * 2)
        let reg = try #require(scores.first { $0.task == "walking_speed" })
        #expect(reg.kind == .regression && reg.count == 30)  // the training record is not scored
        let cls = try #require(scores.first { $0.task == "diagnosis" && $0.model == "biomechgpt" })
        #expect(cls.unparseable == 1)
        #expect(cls.classification?.labels == ["prosthesis", "sci", "stroke"])
    }

    @Test func writesTablesAndWellFormedFigures() throws {
        let scores = try Scoring.score(samplePredictions())
        let report = Report(scores: scores, tasks: [TaskInfo(id: "diagnosis", kind: .classification, classes: ["stroke", "prosthesis", "sci"]),
                                                    TaskInfo(id: "walking_speed", kind: .regression, unit: "m/s")])
        let md = report.markdown
        #expect(md.contains("## Classification"))
        #expect(md.contains("## Regression"))
        #expect(md.contains("| task | metric | biomechgpt | token-histogram-boosting |"))
        #expect(md.range(of: #"\| diagnosis \| F1 \(macro\) \| 0\.\d\d ± 0\.\d\d \|"#, options: .regularExpression) != nil)
        #expect(md.contains("| diagnosis | 3 / 90 | 0 / 90 |"))
        #expect(md.contains("run(s) on the test split"))
        #expect(Report(scores: scores, split: "train").markdown.contains("run(s) on the train split"))
        #expect(Report(scores: scores).modelOrder == ["biomechgpt", "token-histogram-boosting"])
        // A model without regression scores has no column in the regression table.
        let classificationOnly = scores.filter { $0.model == "biomechgpt" && $0.task == "diagnosis" }.map { s -> TaskScore in
            var t = s; t.model = "biomechgpt-ranked"; return t
        }
        let both = Report(scores: scores + classificationOnly).markdown
        #expect(both.contains("| task | metric | biomechgpt | token-histogram-boosting | biomechgpt-ranked |"))
        #expect(both.components(separatedBy: "## Regression")[1].components(separatedBy: "\n")
            .first { $0.hasPrefix("| task | metric") } == "| task | metric | biomechgpt | token-histogram-boosting |")
        #expect(Report(scores: scores, leadingModels: ["absent", "token-histogram-boosting"]).modelOrder
                == ["token-histogram-boosting", "biomechgpt"])
        #expect(report.csv.hasPrefix("task,model,kind,metric,headline,mean,std,runs,answers,unparseable\n"))
        #expect(report.entries.filter(\.headline).count == 4)

        let folder = try temporaryFolder()
        let files = try report.write(to: folder)
        #expect(files.count == 3 + 4)
        let svgs = files.filter { $0.pathExtension == "svg" }
        #expect(svgs.count == 4)
        for svg in svgs { #expect(try wellFormed(svg) > 10) }
        let confusion = try String(contentsOf: svgs.first { $0.lastPathComponent.hasPrefix("confusion__diagnosis__biomechgpt") }!, encoding: .utf8)
        #expect(confusion.contains("(unparsed)"))
        let scatter = try String(contentsOf: svgs.first { $0.lastPathComponent.hasPrefix("scatter") }!, encoding: .utf8)
        #expect(scatter.contains("stroke=\"#d62728\""))  // the fit line
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("scores.json"))) as? [String: Any]
        #expect((json?["summary"] as? [Any])?.count == report.entries.count)
        // Pooled confusion sums the three runs.
        let pooled = try #require(report.pooledConfusion(task: "diagnosis", model: "biomechgpt"))
        #expect(pooled.count == 90)
        #expect(pooled.labels == ["stroke", "prosthesis", "sci"])
    }

    @Test func figuresEscapeNames() throws {
        let m = ClassificationMetrics(truth: ["a<b", "c&d"], predicted: ["a<b", nil], classes: ["a<b", "c&d"])
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent("c.svg")
        try AtomicFile.write(SVGPlots.confusionMatrix(m, title: "x \"quoted\" & <tag>"), to: url)
        #expect(try wellFormed(url) > 5)
    }
}
