import ArgumentParser
import BiomechCore
import Foundation

/// `biomechgpt model fetch`: downloads the Gemma 3 270M GGUF into models/ (scripts/fetch-model.sh).
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Manage the language model file.", subcommands: [Fetch.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch the Gemma 3 270M Q4_K_M GGUF into models/ (or $BIOMECHGPT_MODEL); a no-op when present.")

        @Option(help: "The fetch script.") var script = "scripts/fetch-model.sh"

        func run() throws {
            try reportingErrors {
                guard FileManager.default.fileExists(atPath: script) else {
                    throw InputError(file: script, "the fetch script is missing; run this command from the repository root")
                }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["bash", script]
                try process.run()
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    throw InputError(file: script, "fetching the model failed (exit status \(process.terminationStatus))")
                }
            }
        }
    }
}
