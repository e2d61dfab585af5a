import BiomechCore
import Foundation

/// Where the Gemma 3 model file is: `$BIOMECHGPT_MODEL` if set, else
/// `models/gemma-3-270m-q4_k_m.gguf` relative to the working directory.
public enum ModelLocator {
    public static let defaultRelativePath = "models/gemma-3-270m-q4_k_m.gguf"
    public static let environmentVariable = "BIOMECHGPT_MODEL"

    /// The path the model is expected at (it may not exist).
    public static func expectedURL(environment: [String: String] = ProcessInfo.processInfo.environment,
                                   baseDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        -> URL {
        if let value = environment[environmentVariable], !value.isEmpty {
            let url = value.hasPrefix("/") ? URL(fileURLWithPath: value) : baseDirectory.appendingPathComponent(value)
            return url.standardizedFileURL
        }
        return baseDirectory.appendingPathComponent(defaultRelativePath).standardizedFileURL
    }

    /// The model file; an ``InputError`` telling the user to run `make model` if it is missing.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                              baseDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws -> URL {
        let url = expectedURL(environment: environment, baseDirectory: baseDirectory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            let source = environment[environmentVariable].map { _ in " (from $\(environmentVariable))" } ?? ""
            throw InputError(file: url.path,
                             "the Gemma 3 model file is missing\(source); run `make model` to fetch it " +
                             "(or set $\(environmentVariable) to a GGUF file)")
        }
        guard !isDirectory.boolValue else {
            throw InputError(file: url.path, "expected a GGUF model file, found a directory")
        }
        return url
    }
}
