#!/usr/bin/env python3
"""PyTorch + PEFT peer of `biomechgpt bench train`.

Loads Gemma 3 270M from the GGUF file with transformers (every tensor dequantized to
float32), adds LoRA (rank 32, alpha 32, dropout 0.1) to all seven projections of every
layer with PEFT, and times training steps on one sequence of `--tokens` tokens with the
loss on every position: forward, cross-entropy, backward, AdamW step (lr 2e-4), zero_grad.
The token ids are the same formula the Swift side uses.

Prints one line `PEER_RESULT {json}` with tokens/s, the step times and the process's
peak resident memory (VmHWM, which includes loading).

Usage:
    python3 scripts/peers/peft_train_bench.py --model models/gemma-3-270m-q4_k_m.gguf \
        [--tokens 256] [--warmup 2] [--steps 5] [--threads 2]
Needs: torch, transformers (with gguf), peft.
"""
import argparse
import json
import os
import time


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def token_ids(n: int) -> list:
    # Same as the Swift side: <bos>, then a fixed pseudo-random walk over ordinary ids.
    return [2] + [1000 + (i * 7919) % 200000 for i in range(1, n)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/gemma-3-270m-q4_k_m.gguf")
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rank", type=int, default=32)
    args = p.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    directory, name = os.path.split(os.path.abspath(args.model))
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    config = LoraConfig(r=args.rank, lora_alpha=32, lora_dropout=0.1, bias="none", task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, config)
    model.train()
    load_seconds = time.time() - t0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4,
                                  betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids = torch.tensor([token_ids(args.tokens)], dtype=torch.long)
    times = []
    cpu = []
    losses = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        cpu_start = time.process_time()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        elapsed = time.perf_counter() - start
        cpu_elapsed = time.process_time() - cpu_start
        losses.append(out.loss.detach().item())
        if step >= args.warmup:
            times.append(elapsed)
            cpu.append(cpu_elapsed)
    result = {
        "name": "pytorch+peft lora",
        "tokens": args.tokens,
        "steps": args.steps,
        "step_seconds": times,
        "step_cpu_seconds": cpu,
        "tokens_per_s": args.tokens * len(times) / sum(times),
        "peak_rss_mb": vm_hwm_mb(),
        "load_seconds": load_seconds,
        "trainable_parameters": trainable,
        "losses": losses,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    print("PEER_RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
