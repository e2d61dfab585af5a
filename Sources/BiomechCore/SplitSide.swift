/// The side of a participant split a trial falls on.
public enum SplitSide: String, Sendable, Codable, CaseIterable, Comparable {
    case train, validation, test

    /// Pipeline order: train < validation < test.
    public static func < (a: SplitSide, b: SplitSide) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
