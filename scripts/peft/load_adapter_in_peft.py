#!/usr/bin/env python3
"""Load an adapter saved by BiomechGPT for Swift with Hugging Face PEFT and compare logits.

The Swift side writes the adapter and the numbers it computed:

    .build/release/biomechgpt adapter peft-check --out /tmp/peft-check \
        [--model models/gemma-3-270m-q4_k_m.gguf] [--codebook-size 16]

which saves `adapter_model.safetensors` + `adapter_config.json` (LoRA on all seven
projections with random non-zero B, and the added motion-token rows as PEFT trainable
tokens) and `swift_reference.json` (prompt token ids and the last position's logits).

This script loads Gemma 3 from the same GGUF with transformers (dequantized to float32),
resizes the embedding to the extended vocabulary when the adapter has added token rows
(`trainable_token_indices` in adapter_config.json), applies the adapter with
`PeftModel.from_pretrained`, runs the same token ids and compares:

    python3 scripts/peft/load_adapter_in_peft.py --adapter /tmp/peft-check \
        [--model models/gemma-3-270m-q4_k_m.gguf]

Exit status 0 when the largest logit difference is below --tolerance (default 2e-3 of the
logit range) and the top token agrees. Needs torch, transformers (with gguf) and peft
(>= 0.15 for trainable tokens). Not part of CI.
"""
import argparse
import json
import os
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/gemma-3-270m-q4_k_m.gguf")
    p.add_argument("--adapter", required=True)
    p.add_argument("--tolerance", type=float, default=2e-3, help="relative to the logit range")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import numpy as np
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    with open(os.path.join(args.adapter, "swift_reference.json")) as f:
        ref = json.load(f)
    with open(os.path.join(args.adapter, "adapter_config.json")) as f:
        config = json.load(f)

    directory, name = os.path.split(os.path.abspath(args.model))
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    indices = (config.get("trainable_token_indices") or {}).get("embed_tokens") or []
    if indices:
        # The Swift backbone extended the vocabulary; give transformers' model the same rows
        # (their values come from the adapter's trainable tokens).
        model.resize_token_embeddings(max(indices) + 1, mean_resizing=False)
    vocabulary = model.get_input_embeddings().weight.shape[0]
    if vocabulary != ref["vocabulary_size"]:
        print(f"vocabulary sizes differ: transformers {vocabulary}, swift {ref['vocabulary_size']}", file=sys.stderr)
        return 1
    model = PeftModel.from_pretrained(model, args.adapter)
    model.eval()

    ids = torch.tensor([ref["token_ids"]], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1].float().numpy()
    swift = np.asarray(ref["last_logits"], dtype=np.float32)
    diff = np.abs(logits - swift)
    span = float(swift.max() - swift.min())
    top_py, top_swift = int(logits.argmax()), int(swift.argmax())
    # How much the adapter changes the logits, for scale: the same ids through the base model.
    with model.disable_adapter(), torch.no_grad():
        base = model(input_ids=ids).logits[0, -1].float().numpy()
    print(f"prompt tokens: {len(ref['token_ids'])}, vocabulary: {vocabulary}, added rows: {len(indices)}")
    print(f"adapter effect (max |adapted - base|, transformers): {np.abs(logits - base).max():.4f}")
    print(f"max |transformers - swift|: {diff.max():.6f}  (mean {diff.mean():.6f}; logit range {span:.3f})")
    print(f"top token: transformers {top_py}, swift {top_swift}")
    ok = diff.max() <= args.tolerance * span and top_py == top_swift
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
