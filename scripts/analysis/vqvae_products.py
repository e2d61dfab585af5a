"""Multiply-adds of one VQ-VAE training step's convolution products (docs/benchmarks.md,
docs/tokenizer.md): direct convolution against Winograd F(2, 3) alone and against the
per-layer choice of F(2, 3) or F(4, 3) that `WinogradKernel3.tileSize` makes.

The layers are those of Plugins/VQVAETokenizer/VQVAENetwork.swift (T2M-GPT's encoder and
decoder, stride-2 stages). Usage: python scripts/analysis/vqvae_products.py [--channels 38]
[--width 512] [--codebook-dim 512] [--depth 3] [--growth 3] [--downsampling 4] [--window 64] [--batch 32]
"""
import argparse


def tile_count(time, d, m):
    """Tiles of m outputs at dilation d (WinogradKernel3.tileCount)."""
    blocks = (time + m * d - 1) // (m * d)
    return 0 if blocks == 0 else (blocks - 1) * d + min(d, time - (blocks - 1) * m * d)


def products(time, d, algorithm):
    """Products (in units of in·out multiply-adds) of one kernel-3 layer over one sequence."""
    if algorithm == "direct":
        return 3 * time
    f2 = 4 * tile_count(time, d, 2)
    if algorithm == "f2":
        return f2
    f4 = 6 * tile_count(time, d, 4)
    return f4 if f4 < f2 else f2


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--channels", type=int, default=38)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--codebook-dim", type=int, default=512)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--growth", type=int, default=3)
    p.add_argument("--downsampling", type=int, default=4)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    a = p.parse_args()
    w, stages = a.width, a.downsampling.bit_length() - 1
    dilations = [a.growth ** j for j in range(a.depth)]
    k3, other = [], 0  # k3: (in, out, time, dilation); other: multiply-adds of the rest
    t = a.window
    k3.append((a.channels, w, t, 1))                      # encoder.conv_in
    for _ in range(stages):
        t //= 2
        other += 4 * t * w * w                            # stride-2 downsampling, kernel 4
        for d in dilations:
            k3.append((w, w, t, d)); other += t * w * w   # residual block: kernel 3, kernel 1
    k3.append((w, a.codebook_dim, t, 1))                  # encoder.conv_out
    k3.append((a.codebook_dim, w, t, 1))                  # decoder.conv_in
    for _ in range(stages):
        for d in reversed(dilations):
            k3.append((w, w, t, d)); other += t * w * w
        t *= 2
        k3.append((w, w, t, 1))                           # upsampling convolution
    k3.append((w, w, t, 1)); k3.append((w, a.channels, t, 1))  # decoder.conv_mid, conv_out

    direct_k3 = sum(i * o * products(t, d, "direct") for i, o, t, d in k3)
    forward = direct_k3 + other
    print(f"forward products, direct: {2 * forward * a.batch / 1e9:.1f} GFLOP per step "
          f"(kernel-3 convolutions {100 * direct_k3 / forward:.1f} %)")
    for name, algorithm in [("winograd F(2, 3) only", "f2"), ("winograd F(2, 3) or F(4, 3)", "auto")]:
        wk3 = sum(i * o * products(t, d, algorithm) for i, o, t, d in k3)
        print(f"{name}: {100 * (wk3 + other) / forward:.1f} % of direct's products")


if __name__ == "__main__":
    main()
