import BiomechCore
import BiomechModelRepresentation
import JointAnglesRepresentation

/// The one list of shipped plugins. Adding an implementation = one line here (plus its
/// target under Plugins/); the core never changes.
enum PluginCatalog {
    static let registry: PluginRegistry = {
        var registry = PluginRegistry()
        _ = registry  // registrations follow, one per plugin
        registry.register(BiomechModelFeatures.descriptor) { try BiomechModelFeatures.make($0) }
        registry.register(JointAngleFeatures.descriptor) { try JointAngleFeatures.make($0) }
        return registry
    }()
}
