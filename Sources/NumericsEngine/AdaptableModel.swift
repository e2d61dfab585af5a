/// A model adapters can attach to: its projections are named and replaceable
/// (`ProjectionHost`), its parameters are listed (so an adapter can freeze all but its
/// own), and it says which embedding rows were added by vocabulary extension.
///
/// Names are the PEFT module names of the Hugging Face model, without PEFT's
/// `base_model.model.` prefix — `model.layers.3.self_attn.q_proj`,
/// `model.layers.3.mlp.down_proj` — so an adapter's `target_modules` (`q_proj`, …) match
/// the last component and saved tensor names are PEFT's. `parameters` must include the
/// parameters of replacement projections (LoRA's A and B).
public protocol AdaptableModel: ProjectionHost, ParameterizedLayer {
    /// The rows of the token embedding that were added by vocabulary extension and are
    /// trained with the adapter (the motion tokens), with the embedding parameter; nil when
    /// the vocabulary was not extended. Extend the vocabulary before attaching an adapter.
    var addedTokenRows: (embedding: Parameter, rows: Range<Int>)? { get }
}
