import BiomechPipeline

/// The stage implementations this build provides. Each lives in the module of the
/// concept it runs; this list wires them to stage names.
enum StageCatalog {
    static let pipeline = Pipeline(executors: [:])
}
