import Foundation

/// Writing and reading answers.
///
/// Classes are matched case- and punctuation-insensitively: both the answer and every
/// phrase are lowercased and every run of characters other than letters and digits becomes
/// one space (`Sit-to-Stand!` → `sit to stand`). Phrases match whole words only.
///
/// 1. If the answer has the shape of the task's answer template ("The diagnosis is {class}."),
///    the text in the slot is compared with each class's phrases.
/// 2. Otherwise every phrase is searched for in the whole answer; a match lying inside a
///    longer match is ignored (so "non freezer" is not also read as "freezer", "not impaired"
///    not as "impaired"), and the earliest remaining match wins.
///
/// Numbers: the first number in the answer after the template's fixed prefix when the answer
/// starts with it, else the first number anywhere ("1.23 m/s", "about 12 seconds", "-0.5").
public enum AnswerText {
    public static func normalise(_ text: String) -> String {
        var out = ""
        var pendingSpace = false
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber {
                if pendingSpace, !out.isEmpty { out.append(" ") }
                pendingSpace = false
                out.append(ch)
            } else {
                pendingSpace = true
            }
        }
        return out
    }

    public static func format(_ x: Double, precision: Int) -> String {
        guard x.isFinite else { return "nan" }
        let s = String(format: "%.\(precision)f", x)
        // Avoid "-0.00".
        if s.hasPrefix("-"), s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { return String(s.dropFirst()) }
        return s
    }

    /// The class named by an answer, or nil when none (or nothing) is named.
    public static func matchClass(in answer: String, classes: [TaskClass], template: String? = nil) -> String? {
        let text = normalise(answer)
        guard !text.isEmpty else { return nil }
        var phrases: [(phrase: String, name: String)] = []
        for c in classes { for p in c.synonyms { phrases.append((normalise(p), c.name)) } }

        if let template, let slot = slotText(text, template: template, placeholder: "{class}"), !slot.isEmpty {
            if let hit = phrases.first(where: { $0.phrase == slot }) { return hit.name }
        }

        let words = " " + text + " "
        var matches: [(start: Int, end: Int, name: String)] = []
        for (phrase, name) in phrases {
            let needle = " " + phrase + " "
            var searchStart = words.startIndex
            while let range = words.range(of: needle, range: searchStart..<words.endIndex) {
                let start = words.distance(from: words.startIndex, to: range.lowerBound)
                matches.append((start, start + needle.count - 1, name))
                searchStart = words.index(after: range.lowerBound)
            }
        }
        let maximal = matches.filter { m in
            !matches.contains { o in o.start <= m.start && o.end >= m.end && (o.end - o.start) > (m.end - m.start) }
        }
        return maximal.min { a, b in a.start != b.start ? a.start < b.start : (a.end - a.start) > (b.end - b.start) }?.name
    }

    /// The text in the template's slot when the (normalised) answer starts with the
    /// template's fixed prefix and ends with its fixed suffix.
    static func slotText(_ normalisedAnswer: String, template: String, placeholder: String) -> String? {
        let parts = template.components(separatedBy: placeholder)
        guard parts.count == 2 else { return nil }
        let prefix = normalise(parts[0]), suffix = normalise(parts[1])
        var rest = Substring(normalisedAnswer)
        if !prefix.isEmpty {
            guard rest == prefix || rest.hasPrefix(prefix + " ") else { return nil }
            rest = rest.dropFirst(prefix.count)
        }
        if !suffix.isEmpty {
            guard rest.hasSuffix(" " + suffix) || rest == suffix else { return nil }
            rest = rest.dropLast(suffix.count)
        }
        return rest.trimmingCharacters(in: .whitespaces)
    }

    /// The first number in an answer (see the type's notes), or nil.
    public static func firstNumber(in answer: String, template: String? = nil) -> Double? {
        var text = Substring(answer.trimmingCharacters(in: .whitespacesAndNewlines))
        if let template, let prefix = template.components(separatedBy: "{value}").first,
           !prefix.isEmpty, text.lowercased().hasPrefix(prefix.lowercased().trimmingCharacters(in: .whitespaces)) {
            let trimmed = prefix.trimmingCharacters(in: .whitespaces)
            text = text.dropFirst(trimmed.count)
        }
        return scanNumber(text)
    }

    static func scanNumber(_ text: Substring) -> Double? {
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let startsDigit = c.isASCII && c.isNumber
            let startsPoint = c == "." && i + 1 < chars.count && chars[i + 1].isASCII && chars[i + 1].isNumber
                && (i == 0 || !(chars[i - 1].isASCII && chars[i - 1].isNumber))
            if startsDigit || startsPoint {
                var start = i
                if start > 0, chars[start - 1] == "-" || chars[start - 1] == "−",
                   start == 1 || !(chars[start - 2].isLetter || chars[start - 2].isNumber) {
                    start -= 1
                }
                var j = i
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                if j < chars.count, chars[j] == ".", j + 1 < chars.count, chars[j + 1].isASCII, chars[j + 1].isNumber {
                    j += 1
                    while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                }
                let literal = String(chars[start..<j]).replacingOccurrences(of: "−", with: "-")
                return Double(literal.hasPrefix(".") ? "0" + literal : literal.hasPrefix("-.") ? "-0" + literal.dropFirst() : literal)
            }
            i += 1
        }
        return nil
    }
}
