import Foundation

/// An error in something a user gave us: a file, a recipe field, a command-line value.
///
/// Every such error names *where* (file, and line/column or field when known) and
/// *what was expected*, so a user can fix the input without reading our code.
/// User input must never trap; throw this instead.
public struct InputError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String?
    public var line: Int?
    public var column: Int?
    /// The field, key path, column name or tensor name at fault (e.g. `tokenizer.codebook_size`).
    public var field: String?
    /// What is wrong, in a sentence.
    public var message: String
    /// Valid choices, where there is a closed set (plugin ids, keys, enum values).
    public var allowed: [String]

    public init(file: String? = nil, line: Int? = nil, column: Int? = nil, field: String? = nil,
                _ message: String, allowed: [String] = []) {
        self.file = file; self.line = line; self.column = column
        self.field = field; self.message = message; self.allowed = allowed
    }

    public var description: String {
        var place = file ?? ""
        if let line { place += ":\(line)"; if let column { place += ":\(column)" } }
        var text = place.isEmpty ? "" : place + ": "
        if let field { text += "'\(field)': " }
        text += message
        if !allowed.isEmpty { text += " (expected one of: \(allowed.joined(separator: ", ")))" }
        return text
    }
}

extension InputError: LocalizedError {
    public var errorDescription: String? { description }
}
