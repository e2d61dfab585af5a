"""Throughput peer for `biomechgpt bench vqvae`: the same VQ-VAE, batch and window in
PyTorch on CPU. One training step = forward, EMA quantizer update (dead-code reset),
reconstruction + commitment loss, backward, AdamW (betas 0.9, 0.99). Prints one JSON line.

    python scripts/peers/vqvae_torch_bench.py --channels 38 --batch 32 --window 64 --threads 2
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from vqvae_torch import VQVAE, losses  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--channels", type=int, default=38)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--codebook-size", type=int, default=512)
    p.add_argument("--codebook-dim", type=int, default=512)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--downsampling", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--autocast-bf16", action="store_true",
                   help="forward and losses under torch.autocast(bfloat16): mixed-precision training")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    down_t = a.downsampling.bit_length() - 1
    model = VQVAE(a.channels, a.width, a.codebook_size, a.codebook_dim, a.depth, 3, down_t, 0.99)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.99), weight_decay=0.0)
    x = torch.cumsum(0.3 * torch.randn(a.batch, a.channels, a.window), dim=-1) * 0.2
    rows = a.batch * a.window // a.downsampling

    def step():
        reset_rows = torch.randint(0, rows, (a.codebook_size,))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast_bf16):
            z, zq, idx, commit, perplexity, recon = model(x, reset_rows)
            rec, vel, total = losses(recon, x, commit, 0.02, 0.0)
        opt.zero_grad(set_to_none=False)
        total.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    print(json.dumps({"frames_per_s": a.steps * a.batch * a.window / dt, "seconds_per_step": dt / a.steps,
                      "steps": a.steps, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
