import ArgumentParser
import BiomechCore
import Foundation

/// `biomechgpt plugins [--json]`: every registered implementation with its protocol,
/// summary and parameters.
struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "List the registered plugins and their parameters.")

    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let descriptors = PluginCatalog.registry.descriptors
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(descriptors), as: UTF8.self))
            return
        }
        for kind in PluginKind.allCases {
            let ofKind = descriptors.filter { $0.kind == kind }
            print("\(kind.rawValue) (\(kind.protocolName))")
            if ofKind.isEmpty { print("  (none registered)") }
            for d in ofKind {
                print("  \(d.id) — \(d.summary)")
                for p in d.parameters {
                    print("      \(p.name): \(p.type) = \(p.defaultValue ?? "(required)")  \(p.summary)")
                }
            }
        }
    }
}
