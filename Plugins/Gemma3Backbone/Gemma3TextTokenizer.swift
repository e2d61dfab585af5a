import BiomechCore
import GGUF

/// Gemma 3's text tokenizer, read from the vocabulary in a GGUF file.
///
/// Gemma uses a SentencePiece model with byte fallback (`tokenizer.ggml.model = llama`:
/// tokens and scores, no merge list). Encoding works in three steps, matching the
/// tokenizer transformers builds from the same GGUF (checked against its ids on a
/// corpus of 263 strings, see `Tests/Gemma3BackboneTests/Fixtures`):
///
/// 1. **Whole pieces.** Control tokens (`<bos>`, `<start_of_turn>`, `<unused0>`, ...),
///    user-defined tokens (`\n`, `\n\n`, `\t`, `<table>`, ...) and tokens added with
///    ``extendVocabulary(with:)`` are found in the raw text, leftmost first and longest
///    at each position, and become one id each.
/// 2. **Normalization.** In the text between them, each space becomes `▁` (U+2581). There
///    is no dummy prefix unless the file sets `tokenizer.ggml.add_space_prefix`.
/// 3. **Merging.** The text is split into Unicode scalars; a scalar not in the vocabulary
///    becomes its UTF-8 bytes (`<0xXX>` pieces). Then adjacent symbols are merged greedily:
///    of all adjacent pairs whose concatenation is a vocabulary piece, the pair giving the
///    piece with the lowest id merges first (for Gemma's normal tokens the scores fall
///    strictly with the id, so this is SentencePiece's best-score-first order); ties go to
///    the longer left part, then to the leftmost position. Space runs, which the file
///    stores as user-defined tokens spelled with real spaces, are vocabulary pieces
///    spelled with `▁` here and take part in merging with their low ids.
///
/// Decoding maps ids to pieces, turns `▁` back into spaces and runs of byte pieces back
/// into UTF-8 (invalid sequences become U+FFFD, one per byte).
public struct Gemma3TextTokenizer: Sendable {
    /// SentencePiece token types as stored in `tokenizer.ggml.token_type`.
    public enum TokenType: Int, Sendable, CaseIterable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// Pieces, indexed by id, in the spelling the tokenizer uses (`▁` for spaces).
    public private(set) var pieces: [String]
    /// Token types, indexed by id. Tokens added by ``extendVocabulary(with:)`` are `.userDefined`.
    public private(set) var types: [TokenType]
    /// Number of tokens in the file's vocabulary; ids from here on were added.
    public let baseVocabularySize: Int
    public var vocabularySize: Int { pieces.count }

    public let bosID: Int
    public let eosID: Int
    public let padID: Int?
    public let unknownID: Int?
    public let startOfTurnID: Int?
    public let endOfTurnID: Int?
    /// Whether `encode` adds `<bos>` by default (`tokenizer.ggml.add_bos_token`).
    public let addsBOSByDefault: Bool
    public let addsEOSByDefault: Bool
    /// Whether a space is put before the text (`tokenizer.ggml.add_space_prefix`; false for Gemma).
    public let addSpacePrefix: Bool

    private var index: [PieceKey: Int]
    private var wholePieces: PieceTrie
    private let byteIDs: [Int?]

    public static let spaceSymbol: Character = "\u{2581}"

    /// Reads the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
    public init(gguf file: GGUFFile) throws {
        let m = file.metadata
        let model = try m.string("tokenizer.ggml.model") ?? "llama"
        guard model == "llama" else {
            throw InputError(file: file.path, field: "tokenizer.ggml.model",
                             "unsupported tokenizer model '\(model)'; Gemma uses a SentencePiece ('llama') vocabulary",
                             allowed: ["llama"])
        }
        let tokens = try m.requireStrings("tokenizer.ggml.tokens")
        let rawTypes = try m.ints("tokenizer.ggml.token_type")
        if let rawTypes, rawTypes.count != tokens.count {
            throw InputError(file: file.path, field: "tokenizer.ggml.token_type",
                             "has \(rawTypes.count) entries; expected one per token (\(tokens.count))")
        }
        var types: [TokenType] = []
        types.reserveCapacity(tokens.count)
        for (i, raw) in (rawTypes ?? Array(repeating: 1, count: tokens.count)).enumerated() {
            guard let t = TokenType(rawValue: raw) else {
                throw InputError(file: file.path, field: "tokenizer.ggml.token_type",
                                 "token \(i) has type \(raw)", allowed: TokenType.allCases.map { "\($0.rawValue) (\($0))" })
            }
            types.append(t)
        }
        func id(_ key: String) throws -> Int? {
            guard let v = try m.int(key) else { return nil }
            guard v >= 0, v < tokens.count else {
                throw InputError(file: file.path, field: key, "token id \(v) is outside the vocabulary of \(tokens.count) tokens")
            }
            return v
        }
        guard let bos = try id("tokenizer.ggml.bos_token_id"), let eos = try id("tokenizer.ggml.eos_token_id") else {
            throw InputError(file: file.path, field: "tokenizer.ggml.bos_token_id",
                             "the file must give tokenizer.ggml.bos_token_id and tokenizer.ggml.eos_token_id")
        }
        try self.init(tokens: tokens, types: types, bosID: bos, eosID: eos,
                      padID: try id("tokenizer.ggml.padding_token_id"),
                      unknownID: try id("tokenizer.ggml.unknown_token_id"),
                      addsBOSByDefault: try m.bool("tokenizer.ggml.add_bos_token") ?? true,
                      addsEOSByDefault: try m.bool("tokenizer.ggml.add_eos_token") ?? false,
                      addSpacePrefix: try m.bool("tokenizer.ggml.add_space_prefix") ?? false)
    }

    /// Builds a tokenizer from a vocabulary given directly (pieces spelled as in a GGUF file).
    public init(tokens: [String], types: [TokenType], bosID: Int, eosID: Int, padID: Int? = nil,
                unknownID: Int? = nil, addsBOSByDefault: Bool = true, addsEOSByDefault: Bool = false,
                addSpacePrefix: Bool = false) throws {
        guard tokens.count == types.count else {
            throw InputError(field: "tokenizer.ggml.token_type",
                             "has \(types.count) entries; expected one per token (\(tokens.count))")
        }
        // A user-defined token made only of spaces ("  ") is the piece "▁▁" of the
        // SentencePiece model; it is merged like a normal piece, not matched whole.
        var pieces = tokens
        var index: [PieceKey: Int] = [:]
        index.reserveCapacity(tokens.count)
        var trie = PieceTrie()
        for i in tokens.indices {
            let t = tokens[i]
            if !t.isEmpty, t.utf8.allSatisfy({ $0 == 0x20 }) {
                pieces[i] = String(repeating: Self.spaceSymbol, count: t.utf8.count)
            }
            index[PieceKey(pieces[i])] = i
        }
        for i in tokens.indices where types[i] == .control || (types[i] == .userDefined && pieces[i] == tokens[i]) {
            if !tokens[i].isEmpty { trie.insert(Array(tokens[i].unicodeScalars), id: i) }
        }
        var byteIDs = [Int?](repeating: nil, count: 256)
        for b in 0..<256 {
            byteIDs[b] = index[PieceKey(Self.bytePiece(UInt8(b)))]
        }
        self.pieces = pieces
        self.types = types
        self.index = index
        self.wholePieces = trie
        self.byteIDs = byteIDs
        self.baseVocabularySize = tokens.count
        self.bosID = bosID
        self.eosID = eosID
        self.padID = padID
        self.unknownID = unknownID
        self.startOfTurnID = index[PieceKey("<start_of_turn>")]
        self.endOfTurnID = index[PieceKey("<end_of_turn>")]
        self.addsBOSByDefault = addsBOSByDefault
        self.addsEOSByDefault = addsEOSByDefault
        self.addSpacePrefix = addSpacePrefix
    }

    static func bytePiece(_ b: UInt8) -> String {
        let hex = String(b, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    /// The id of a piece (spelled with `▁` for spaces), if it is in the vocabulary.
    public func id(for piece: String) -> Int? { index[PieceKey(piece)] }

    /// The piece of an id, if the id is in the vocabulary.
    public func piece(for id: Int) -> String? { pieces.indices.contains(id) ? pieces[id] : nil }

    /// Adds tokens as new rows after the current vocabulary and returns their ids.
    ///
    /// Ids are contiguous, in the order given, starting at the current ``vocabularySize``
    /// (262144 for the first extension of Gemma 3). Added tokens are matched whole in the
    /// text when encoding (like user-defined tokens) and decode back to their names.
    /// Names must be non-empty and new (neither in the vocabulary nor repeated).
    @discardableResult
    public mutating func extendVocabulary(with names: [String]) throws -> Range<Int> {
        var seen = Set<PieceKey>()
        for name in names {
            guard !name.isEmpty else {
                throw InputError(field: "vocabulary", "an added token name is empty; expected a non-empty name")
            }
            guard index[PieceKey(name)] == nil, seen.insert(PieceKey(name)).inserted else {
                throw InputError(field: name, "token is already in the vocabulary; added tokens must be new")
            }
        }
        let start = pieces.count
        for name in names {
            let id = pieces.count
            pieces.append(name)
            types.append(.userDefined)
            index[PieceKey(name)] = id
            wholePieces.insert(Array(name.unicodeScalars), id: id)
        }
        return start..<pieces.count
    }

    /// Token ids of `text`. `<bos>` is added when `addBOS` is true (default: the file's
    /// `add_bos_token`, true for Gemma); special-token text in `text` (`<start_of_turn>`)
    /// is always matched whole.
    public func encode(_ text: String, addBOS: Bool? = nil, addEOS: Bool? = nil) -> [Int] {
        var ids: [Int] = []
        if addBOS ?? addsBOSByDefault { ids.append(bosID) }
        let scalars = Array(text.unicodeScalars)
        var segmentStart = 0
        var i = 0
        while i < scalars.count {
            if let (id, length) = wholePieces.longestMatch(in: scalars, at: i) {
                if segmentStart < i { encodeSegment(scalars[segmentStart..<i], atStart: segmentStart == 0, into: &ids) }
                ids.append(id)
                i += length
                segmentStart = i
            } else {
                i += 1
            }
        }
        if segmentStart < scalars.count {
            encodeSegment(scalars[segmentStart..<scalars.count], atStart: segmentStart == 0, into: &ids)
        }
        if addEOS ?? addsEOSByDefault { ids.append(eosID) }
        return ids
    }

    /// Text of `ids`. Control tokens (`<bos>`, `<end_of_turn>`) are written out unless
    /// `skipSpecialTokens` is true; ids outside the vocabulary are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var out = ""
        var bytes: [UInt8] = []
        func flush() {
            guard !bytes.isEmpty else { return }
            if let s = String(validating: bytes, as: UTF8.self) {
                out += s
            } else {
                out += String(repeating: "\u{FFFD}", count: bytes.count)
            }
            bytes.removeAll(keepingCapacity: true)
        }
        for id in ids {
            guard pieces.indices.contains(id) else { continue }
            if types[id] == .byte, let b = Self.parseBytePiece(pieces[id]) {
                bytes.append(b)
                continue
            }
            flush()
            if skipSpecialTokens && types[id] == .control { continue }
            out += pieces[id].replacingSpaceSymbols()
        }
        flush()
        if addSpacePrefix, out.first == " " { out.removeFirst() }
        return out
    }

    static func parseBytePiece(_ piece: String) -> UInt8? {
        let u = Array(piece.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    // MARK: Merging

    private struct Symbol {
        var id: Int
        var prev: Int
        var next: Int
        var alive: Bool
    }

    /// The id and rank of merging pieces `a` and `b`, if their concatenation is a piece.
    /// Lower ranks merge first: by the merged piece's id, then the longer left part.
    @inline(__always)
    private func merge(_ a: Int, _ b: Int) -> (rank: Int, id: Int)? {
        guard a < baseVocabularySize, b < baseVocabularySize,
              let merged = index[PieceKey(pieces[a] + pieces[b])], merged < baseVocabularySize else { return nil }
        let leftLength = pieces[a].unicodeScalars.count
        return (merged << 16 | (0xFFFF - min(leftLength, 0xFFFF)), merged)
    }

    private func encodeSegment(_ text: ArraySlice<Unicode.Scalar>, atStart: Bool, into ids: inout [Int]) {
        var symbols: [Symbol] = []
        symbols.reserveCapacity(text.count + 1)
        func add(_ id: Int) {
            symbols.append(Symbol(id: id, prev: symbols.count - 1, next: symbols.count + 1, alive: true))
        }
        var scalars = Array(text)
        if addSpacePrefix && atStart { scalars.insert(" ", at: 0) }
        for s in scalars {
            let piece = s == " " ? String(Self.spaceSymbol) : String(s)
            if let id = index[PieceKey(piece)], id < baseVocabularySize {
                add(id)
            } else {
                let utf8 = Array(piece.utf8)
                if utf8.allSatisfy({ byteIDs[Int($0)] != nil }) {
                    for b in utf8 { add(byteIDs[Int(b)]!) }
                } else if let unknownID {
                    if symbols.last?.id != unknownID { add(unknownID) }
                }
            }
        }
        guard !symbols.isEmpty else { return }
        symbols[symbols.count - 1].next = -1

        var queue = MergeQueue()
        for i in 0..<(symbols.count - 1) {
            if let m = merge(symbols[i].id, symbols[i + 1].id) { queue.push(.init(rank: m.rank, position: i, id: m.id)) }
        }
        while let top = queue.pop() {
            let left = top.position
            guard symbols[left].alive, symbols[left].next >= 0 else { continue }
            let right = symbols[left].next
            guard let m = merge(symbols[left].id, symbols[right].id), m.id == top.id else { continue }
            symbols[left].id = m.id
            symbols[right].alive = false
            let after = symbols[right].next
            symbols[left].next = after
            if after >= 0 { symbols[after].prev = left }
            let before = symbols[left].prev
            if before >= 0, let p = merge(symbols[before].id, m.id) {
                queue.push(.init(rank: p.rank, position: before, id: p.id))
            }
            if after >= 0, let n = merge(m.id, symbols[after].id) {
                queue.push(.init(rank: n.rank, position: left, id: n.id))
            }
        }
        var i = 0
        while i >= 0 && i < symbols.count {
            ids.append(symbols[i].id)
            i = symbols[i].next
        }
    }
}

/// A dictionary key that compares pieces by their UTF-8 bytes. Swift's `String` equality
/// follows Unicode canonical equivalence, under which distinct vocabulary pieces such as
/// ";" (U+003B) and ";" (U+037E), or "é" and "e\u{301}", would collide.
struct PieceKey: Hashable, Sendable {
    let text: String
    init(_ text: String) { self.text = text }
    static func == (a: PieceKey, b: PieceKey) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }
    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    func replacingSpaceSymbols() -> String {
        guard unicodeScalars.contains("\u{2581}") else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 }))
    }
}

/// A min-heap of pending merges ordered by rank, then position.
struct MergeQueue {
    struct Entry { var rank: Int; var position: Int; var id: Int }
    private var heap: [Entry] = []

    @inline(__always)
    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.position < b.position
    }

    mutating func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < heap.count, Self.less(heap[l], heap[smallest]) { smallest = l }
                if r < heap.count, Self.less(heap[r], heap[smallest]) { smallest = r }
                if smallest == i { break }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
        return top
    }
}

/// A trie over Unicode scalars for finding whole pieces (special and added tokens).
struct PieceTrie: Sendable {
    private var children: [[UInt32: Int32]] = [[:]]
    private var terminal: [Int32] = [-1]

    mutating func insert(_ scalars: [Unicode.Scalar], id: Int) {
        var node = 0
        for s in scalars {
            if let next = children[node][s.value] {
                node = Int(next)
            } else {
                children.append([:])
                terminal.append(-1)
                let next = children.count - 1
                children[node][s.value] = Int32(next)
                node = next
            }
        }
        terminal[node] = Int32(id)
    }

    /// The longest piece starting at `start`, as (id, length in scalars).
    func longestMatch(in text: [Unicode.Scalar], at start: Int) -> (Int, Int)? {
        var node = 0
        var best: (Int, Int)? = nil
        var i = start
        while i < text.count, let next = children[node][text[i].value] {
            node = Int(next)
            i += 1
            if terminal[node] >= 0 { best = (Int(terminal[node]), i - start) }
        }
        return best
    }
}
