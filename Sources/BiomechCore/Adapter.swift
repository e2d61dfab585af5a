import Foundation

/// Parameter-efficient fine-tuning of a backbone (LoRA, QLoRA).
///
/// Contract:
/// - `attach(to:)` wraps the backbone's linear projections named by the recipe
///   (`target_modules`) with trainable low-rank updates; the base weights stay frozen (in
///   4 bits for QLoRA). Throws `InputError` naming the module if a target does not exist,
///   or if the backbone does not expose adaptable linear layers.
/// - Nothing is fitted at attach time: training is the fine-tuning stage's job.
/// - `save(to:)` writes `adapter_model.safetensors` with PEFT's tensor names and
///   `adapter_config.json`, so Python users can load it with PEFT; `load(from:)` restores
///   a saved adapter onto an attached backbone.
public protocol Adapter: AnyObject {
    var targetModules: [String] { get }
    var trainableParameterCount: Int { get }
    func attach(to backbone: any LanguageBackbone) throws
    func save(to directory: URL) throws
    func load(from directory: URL) throws
}
