"""The `vqvae` tokenizer's network in PyTorch, with the parameter names the Swift
implementation uses (`encoder.down.0.res.1.conv1.weight`, ...).

T2M-GPT's architecture (HumanVQVAE with stride 2): encoder conv k3 -> ReLU -> down_t x
[conv k4 stride 2 -> ResNet1D (dilations 1, 3, 9)] -> conv k3; the decoder mirrors it with
nearest x2 upsampling and dilations 9, 3, 1; QuantizeEMAReset with the reset rows made
explicit. Used by scripts/fixtures/make_vqvae_fixture.py (reference check) and
scripts/peers/vqvae_torch_bench.py (throughput peer).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, width, dilation):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, 1, dilation, dilation)
        self.conv2 = nn.Conv1d(width, width, 1, 1, 0)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def dilations(depth, growth):
    return [growth ** j for j in range(depth)]


class DownStage(nn.Module):
    def __init__(self, width, depth, growth):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 4, 2, 1)
        self.res = nn.ModuleList([ResBlock(width, d) for d in dilations(depth, growth)])

    def forward(self, x):
        x = self.conv(x)
        for b in self.res:
            x = b(x)
        return x


class UpStage(nn.Module):
    def __init__(self, width, depth, growth):
        super().__init__()
        self.res = nn.ModuleList([ResBlock(width, d) for d in reversed(dilations(depth, growth))])
        self.conv = nn.Conv1d(width, width, 3, 1, 1)

    def forward(self, x):
        for b in self.res:
            x = b(x)
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Encoder(nn.Module):
    def __init__(self, cin, width, dim, depth, growth, down_t):
        super().__init__()
        self.conv_in = nn.Conv1d(cin, width, 3, 1, 1)
        self.down = nn.ModuleList([DownStage(width, depth, growth) for _ in range(down_t)])
        self.conv_out = nn.Conv1d(width, dim, 3, 1, 1)

    def forward(self, x):
        x = F.relu(self.conv_in(x))
        for s in self.down:
            x = s(x)
        return self.conv_out(x)


class Decoder(nn.Module):
    def __init__(self, cin, width, dim, depth, growth, down_t):
        super().__init__()
        self.conv_in = nn.Conv1d(dim, width, 3, 1, 1)
        self.up = nn.ModuleList([UpStage(width, depth, growth) for _ in range(down_t)])
        self.conv_mid = nn.Conv1d(width, width, 3, 1, 1)
        self.conv_out = nn.Conv1d(width, cin, 3, 1, 1)

    def forward(self, x):
        x = F.relu(self.conv_in(x))
        for s in self.up:
            x = s(x)
        return self.conv_out(F.relu(self.conv_mid(x)))


class EMAQuantizer(nn.Module):
    """QuantizeEMAReset; dead codes take rows `reset_rows` of the batch (T2M-GPT uses the
    first K rows, tiled with noise when the batch is smaller than the codebook)."""

    def __init__(self, k, d, mu):
        super().__init__()
        self.k, self.d, self.mu = k, d, mu
        self.register_buffer("codebook", torch.zeros(k, d))
        self.register_buffer("code_sum", torch.zeros(k, d))
        self.register_buffer("code_count", torch.zeros(k))
        self.initialized = False

    def init_codebook(self, x, reset_rows):
        self.codebook = x[reset_rows].clone()
        self.code_sum = self.codebook.clone()
        self.code_count = torch.ones(self.k)
        self.initialized = True

    @torch.no_grad()
    def update(self, x, idx, reset_rows):
        onehot = torch.zeros(self.k, x.shape[0])
        onehot.scatter_(0, idx.view(1, -1), 1)
        code_sum = onehot @ x
        code_count = onehot.sum(-1)
        self.code_sum = self.mu * self.code_sum + (1 - self.mu) * code_sum
        self.code_count = self.mu * self.code_count + (1 - self.mu) * code_count
        usage = (self.code_count.view(-1, 1) >= 1.0).float()
        self.codebook = usage * (self.code_sum / self.code_count.view(-1, 1)) + (1 - usage) * x[reset_rows]
        prob = code_count / code_count.sum()
        return torch.exp(-torch.sum(prob * torch.log(prob + 1e-7)))

    def forward(self, z, reset_rows, training=True):
        n, d, t = z.shape
        x = z.permute(0, 2, 1).reshape(-1, d)
        if training and not self.initialized:
            self.init_codebook(x.detach(), reset_rows)
        kw = self.codebook.t()
        dist = (x ** 2).sum(-1, keepdim=True) - 2 * x @ kw + (kw ** 2).sum(0, keepdim=True)
        idx = dist.argmin(-1)
        xd = self.codebook[idx]
        perplexity = self.update(x.detach(), idx, reset_rows) if training else None
        commit = F.mse_loss(x, xd.detach())
        xd = x + (xd - x).detach()
        return xd.view(n, t, d).permute(0, 2, 1).contiguous(), idx, commit, perplexity


class VQVAE(nn.Module):
    def __init__(self, cin, width=512, k=512, dim=512, depth=3, growth=3, down_t=2, mu=0.99):
        super().__init__()
        self.encoder = Encoder(cin, width, dim, depth, growth, down_t)
        self.decoder = Decoder(cin, width, dim, depth, growth, down_t)
        self.quantizer = EMAQuantizer(k, dim, mu)

    def forward(self, x, reset_rows):
        z = self.encoder(x)
        zq, idx, commit, perplexity = self.quantizer(z, reset_rows)
        return z, zq, idx, commit, perplexity, self.decoder(zq)


def losses(recon, x, commit, commitment=0.02, velocity=0.0):
    rec = F.mse_loss(recon, x)
    if velocity == 0:
        return rec, torch.zeros(()), rec + commitment * commit
    vel = F.mse_loss(recon[..., 1:] - recon[..., :-1], x[..., 1:] - x[..., :-1])
    total = rec + commitment * commit + velocity * vel
    return rec, vel, total
