import BiomechCore

/// The one list of shipped plugins. Adding an implementation = one line here (plus its
/// target under Plugins/); the core never changes.
enum PluginCatalog {
    static let registry: PluginRegistry = {
        var registry = PluginRegistry()
        _ = registry  // registrations follow, one per plugin
        return registry
    }()
}
