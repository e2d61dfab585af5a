/// A model whose linear projections can be looked up and replaced by name: what LoRA and
/// QLoRA adapters attach to.
///
/// Names are the PEFT module names of the Hugging Face model, without PEFT's
/// `base_model.model.` prefix — `model.layers.3.self_attn.q_proj`,
/// `model.layers.3.mlp.down_proj` — so an adapter's `target_modules` (`q_proj`, …) match
/// the last component and saved tensor names are PEFT's.
///
/// Replacing a projection hands ownership to the replacement (which usually wraps the old
/// one); the model must drop its own references to the old projection's parameters from
/// anything that would keep them alive or train them (e.g. its parameter store), and register
/// the replacement's instead. `parameters` lists every parameter of the model as it is now
/// (after replacements), so an adapter can freeze all of them but its own.
public protocol AdaptableModel: ParameterizedLayer {
    /// Every replaceable projection, in a stable order (layer by layer).
    var projectionNames: [String] { get }
    func projection(named name: String) -> (any Projection)?
    /// Puts `projection` in place of the projection called `name`; throws `InputError` if
    /// there is none or the shapes differ.
    func replaceProjection(named name: String, with projection: any Projection) throws
    /// The rows of the token embedding that were added by vocabulary extension and are
    /// trained with the adapter (the motion tokens), with the embedding parameter; nil when
    /// the vocabulary was not extended.
    var addedTokenRows: (embedding: Parameter, rows: Range<Int>)? { get }
}
