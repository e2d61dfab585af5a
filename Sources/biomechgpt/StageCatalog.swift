import BiomechCore
import BiomechPipeline
import BiomechRecipes
import ClinicalTasks

/// The stage implementations this build provides, wired to stage names. Each stage lives
/// in BiomechPipeline/Stages and talks to the others only through the run directory.
enum StageCatalog {
    static let pipeline = Pipeline(executors: [
        .data: DataStage(),
        .tokenizer: TokenizerStage(),
        .encode: EncodeStage(),
        .baselines: BaselinesStage(),
        .qa: QAStage(chatTemplate: backboneChatTemplate),
        .finetune: FineTuneStage(),
        .evaluate: EvaluateStage(),
        .report: ReportStage(),
    ])

    /// The configured backbone's chat template (Gemma's when the recipe names no backbone).
    @Sendable static func backboneChatTemplate(_ context: RunContext) throws -> ChatTemplate {
        guard let spec = context.recipe.backbone else { return ChatTemplates.gemma }
        if let template = PluginCatalog.weightFreeChatTemplates[spec.id] { return template }
        let backbone = UncheckedBox(try context.registry.make(.backbone, spec) as any LanguageBackbone)
        return { turns, openModelTurn in backbone.value.chatPrompt(turns, openModelTurn: openModelTurn) }
    }
}

/// Carries a non-Sendable value into a `@Sendable` closure that is only ever called on
/// the thread that made it (stages run sequentially).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
