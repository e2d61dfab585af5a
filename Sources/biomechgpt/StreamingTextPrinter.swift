import Foundation

/// Prints generated text as it grows, one token at a time.
///
/// The caller decodes everything generated so far at each step (byte-fallback pieces only
/// make characters once complete). A text ending in U+FFFD is waiting for the rest of a
/// character and is held back, so what is printed stays a prefix of the final text; a text
/// that no longer extends what was printed (an answer re-trimmed) is printed again whole on a
/// new line.
struct StreamingTextPrinter {
    private(set) var printed = ""
    let output: FileHandle

    init(output: FileHandle = .standardOutput) { self.output = output }

    mutating func update(_ text: String) {
        guard !text.hasSuffix("\u{FFFD}") else { return }
        let piece = text.hasPrefix(printed) ? String(text.dropFirst(printed.count)) : "\n" + text
        if printed.isEmpty { fflush(nil) }  // what `print` buffered comes first
        output.write(Data(piece.utf8))
        printed = text
    }

    /// Prints whatever was held back (an incomplete last character, as decoded).
    mutating func finish(_ text: String) {
        if printed.isEmpty { fflush(nil) }
        if text.hasPrefix(printed), text.count > printed.count {
            output.write(Data(String(text.dropFirst(printed.count)).utf8))
        }
        printed = text
    }
}
