import BiomechCore

/// Checks of numeric command-line options, run by the commands' `validate()`: a value out of
/// range is an error naming the option, never a trap further down.
enum OptionChecks {
    static func atLeast(_ minimum: Int, _ value: Int, _ option: String) throws {
        guard value >= minimum else { throw InputError(field: option, "expected at least \(minimum), got \(value)") }
    }
}
