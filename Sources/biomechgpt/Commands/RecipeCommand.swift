import ArgumentParser

struct RecipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recipe", abstract: "Check or show a recipe.")
}
