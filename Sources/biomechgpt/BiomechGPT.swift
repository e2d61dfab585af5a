import ArgumentParser
import BiomechCore
import Foundation

/// `biomechgpt`: every stage of the pipeline is a subcommand, and `run` chains them as a
/// recipe says.
@main
struct BiomechGPT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "biomechgpt",
        abstract: "BiomechGPT: a multimodal biomechanics-language model framework.",
        discussion: "Recipes in recipes/ choose and configure the plugins; `biomechgpt plugins` lists them.",
        subcommands: [
            PluginsCommand.self,
            RecipeCommand.self,
            RunCommand.self,
            TokenizerCommand.self,
            BenchCommand.self,
            TasksCommand.self,
            ReportCommand.self,
            DataCommand.self,
            GenerateCommand.self,
            ModelCommand.self,
            AskCommand.self,
            AdapterCommand.self,
        ])
}

/// Runs a command body, turning user-facing errors into a message and exit code 1
/// instead of a trap or a stack of Swift error text.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let error as InputError {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        throw ExitCode(1)
    }
}
