import BiomechCore
import ChanceBaseline
import ClassificationTask
import Gemma3Backbone
import LoRAAdapter
import QLoRAAdapter
import RegressionTask
import TokenHistogramBoosting

/// The one list of shipped plugins. Adding an implementation = one line here (plus its
/// target under Plugins/); the core never changes.
enum PluginCatalog {
    static let registry: PluginRegistry = {
        var registry = PluginRegistry()
        _ = registry  // registrations follow, one per plugin
        // Tasks (configured by recipes/tasks/*.yaml) and baselines.
        registry.register(ClassificationTask.descriptor) { try ClassificationTask.make($0) }
        registry.register(RegressionTask.descriptor) { try RegressionTask.make($0) }
        registry.register(TokenHistogramBoosting.descriptor) { try TokenHistogramBoosting.make($0) }
        registry.register(ChanceBaseline.descriptor) { try ChanceBaseline.make($0) }
        // Backbones.
        registry.register(Gemma3LanguageBackbone.descriptor) { try Gemma3LanguageBackbone.make($0) }
        // Adapters.
        registry.register(LoRAAdapter.descriptor) { try LoRAAdapter.make($0) }
        registry.register(QLoRAAdapter.descriptor) { try QLoRAAdapter.make($0) }
        return registry
    }()
}
