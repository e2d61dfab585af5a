import BiomechCore

/// Gemma 3's chat format.
///
/// ```
/// <bos><start_of_turn>user
/// {system}\n\n{first user message}<end_of_turn>
/// <start_of_turn>model
/// {model reply}<end_of_turn>
/// <start_of_turn>user
/// ...
/// <start_of_turn>model
/// ```
///
/// Gemma has no system role: system text goes before the first user message, followed by
/// a blank line. Turns must alternate user, model, user, ... starting with the user. As in
/// the official template, message text is trimmed of surrounding whitespace.
public enum Gemma3ChatTemplate {
    public enum Role: String, Sendable, Codable, CaseIterable {
        case system, user, model
    }

    public struct Message: Sendable, Equatable, Codable {
        public var role: Role
        public var content: String
        public init(_ role: Role, _ content: String) { self.role = role; self.content = content }
        public static func system(_ text: String) -> Message { Message(.system, text) }
        public static func user(_ text: String) -> Message { Message(.user, text) }
        public static func model(_ text: String) -> Message { Message(.model, text) }
    }

    public static let bos = "<bos>"
    public static let startOfTurn = "<start_of_turn>"
    public static let endOfTurn = "<end_of_turn>"

    /// Renders a conversation. With `addGenerationPrompt`, ends with `<start_of_turn>model\n`
    /// so the model writes the next reply.
    public static func render(_ messages: [Message], addGenerationPrompt: Bool = true,
                              includeBOS: Bool = true) throws -> String {
        var turns = messages
        var systemText: String? = nil
        if let first = turns.first, first.role == .system {
            systemText = first.content.trimmingWhitespace()
            turns.removeFirst()
        }
        guard !turns.isEmpty else {
            throw InputError(field: "messages", "a conversation needs at least one user message", allowed: ["user"])
        }
        var out = includeBOS ? bos : ""
        for (i, message) in turns.enumerated() {
            let expected: Role = i % 2 == 0 ? .user : .model
            guard message.role == expected else {
                throw InputError(field: "messages[\(i + (systemText == nil ? 0 : 1))].role",
                                 "conversation roles must alternate user/model/user/... after an optional first system message; found '\(message.role.rawValue)'",
                                 allowed: [expected.rawValue])
            }
            var content = message.content.trimmingWhitespace()
            if i == 0, let systemText, !systemText.isEmpty { content = systemText + "\n\n" + content }
            out += startOfTurn + message.role.rawValue + "\n" + content + endOfTurn + "\n"
        }
        if addGenerationPrompt { out += startOfTurn + "model\n" }
        return out
    }

    /// A single-turn prompt: `<bos><start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n`,
    /// with optional system text before the prompt.
    public static func prompt(_ userText: String, system: String? = nil) -> String {
        var messages: [Message] = []
        if let system { messages.append(.system(system)) }
        messages.append(.user(userText))
        // Cannot fail: the roles alternate by construction.
        return (try? render(messages)) ?? ""
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[start...end])
    }
}
