import BiomechCore
import BiomechModelRepresentation
import ChanceBaseline
import ClassificationTask
import ClinicalTasks
import ContinuousEncoder
import Gemma3Backbone
import JointAnglesRepresentation
import LoRAAdapter
import QLoRAAdapter
import RegressionTask
import TokenHistogramBoosting
import VQVAETokenizer

/// The one list of shipped plugins. Adding an implementation = one line here (plus its
/// target under Plugins/); the core never changes.
enum PluginCatalog {
    static let registry: PluginRegistry = {
        var registry = PluginRegistry()
        // Representations.
        registry.register(BiomechModelFeatures.descriptor) { try BiomechModelFeatures.make($0) }
        registry.register(JointAngleFeatures.descriptor) { try JointAngleFeatures.make($0) }
        // Tokenizers.
        registry.register(VQVAETokenizer.descriptor) { try VQVAETokenizer.make($0) }
        registry.register(ContinuousEncoderTokenizer.descriptor) { try ContinuousEncoderTokenizer.make($0) }
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

    /// Backbones whose chat template renders without their weights, by plugin id; the `qa`
    /// stage uses these instead of loading the model.
    static let weightFreeChatTemplates: [String: ChatTemplate] = [
        Gemma3LanguageBackbone.descriptor.id: { Gemma3LanguageBackbone.chatPrompt($0, openModelTurn: $1) },
    ]
}
