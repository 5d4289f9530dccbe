"""The QANN corrector: a small quantization-aware U-Net that removes uniform-quantization artifacts.

The network takes the mid-bin reconstruction of an RGB image (float32 in [0, 1], shape (N, 3, H, W)) and the level
count of each channel (float32, shape (N, 3)) and returns the corrected image: the input plus a predicted residual.

- Level embedding: for each channel, sinusoidal features of log2 L; the three channels' features go through a
  small MLP to one embedding vector, which gives every block a FiLM scale and shift.
- U-Net: the image is folded to half resolution (pixel unshuffle: 12 channels), so no convolution runs at full
  resolution (the CPU budget); then three stride-2 downsamplings with a residual block each, self-attention at the
  lowest resolution (1/16), upsampling with skip connections, and a pixel shuffle back to full resolution. H and W
  must be multiples of :data:`STRIDE` (the runtime pads).
- The last convolution starts at zero, so an untrained model is the identity (the mid-bin reconstruction).
- Blocks (``Config.block``): ``"silu"`` (the shipped models) is SiLU, conv, FiLM, SiLU, conv, and the head sees
  SiLU of the features; ``"relu"`` is conv, ReLU, conv, FiLM, and the head sees the features as they are, built for
  int8: each ReLU fuses into its int8 convolution, and the one FiLM per block can be
  quantized too, so the int8 graph has no float islands between convolutions (onnxruntime then keeps it in NHWC
  without a layout change around every block).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 16  # H and W must be multiples of this: 2 ** (number of downsamplings)
BLOCKS = ("silu", "relu")
MAX_LEVELS = 64  # trained on 2..MAX_LEVELS levels per channel


@dataclass(frozen=True)
class Config:
    """Model size. ``widths`` are the channel counts at 1/2, 1/4, 1/8 and 1/16 resolution."""

    widths: tuple[int, ...] = (16, 24, 32, 48)
    emb_dim: int = 64
    freqs: int = 6
    heads: int = 2
    block: str = "silu"  # "silu" or "relu" (see the module's docstring)

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"block: expected one of {BLOCKS}, got {self.block!r}")

    def to_dict(self) -> dict:
        """A JSON-friendly dict (for checkpoints)."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        """The inverse of :meth:`to_dict`."""
        return cls(**{**d, "widths": tuple(d["widths"])})


TINY = Config(widths=(4, 8, 8, 8), emb_dim=8, freqs=2, heads=1)
#: The int8-friendly shape: ReLU blocks, twice the width (about 4x the MACs of the default, still far under budget).
INT8 = Config(widths=(32, 48, 64, 96), block="relu")


class LevelEmbedding(nn.Module):
    """Per-channel sinusoidal features of log2 L, then an MLP to one vector of ``emb_dim``."""

    def __init__(self, freqs: int, emb_dim: int):
        super().__init__()
        self.register_buffer("scales", (2.0 ** torch.arange(freqs)) * (math.pi / 8), persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(3 * (2 * freqs + 1), emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim), nn.SiLU()
        )

    def forward(self, levels: torch.Tensor) -> torch.Tensor:
        x = torch.log2(levels.clamp(min=2.0)).unsqueeze(-1)  # (N, 3, 1), 1..6 over the trained range
        ang = x * self.scales  # (N, 3, F)
        feats = torch.cat([torch.sin(ang), torch.cos(ang), (x - 3.5) / 2.5], dim=-1)  # (N, 3, 2F + 1)
        return self.mlp(feats.flatten(1))


class Block(nn.Module):
    """Residual block with FiLM (scale and shift from the level embedding). ``"silu"``: SiLU, conv, FiLM, SiLU, conv;
    ``"relu"``: conv, ReLU, conv, FiLM. Plus the input (through a 1x1 conv where the widths differ)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, kind: str = "silu"):
        super().__init__()
        self.kind = kind
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        if self.kind == "relu":
            return self.skip(x) + self.conv2(F.relu(self.conv1(x))) * (1 + scale) + shift
        h = self.conv1(F.silu(x))
        h = h * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over all positions of a feature map, with a residual connection."""

    def __init__(self, ch: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(1, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        att = torch.softmax(q.transpose(-1, -2) @ k * (c // self.heads) ** -0.5, dim=-1)  # (N, heads, HW, HW)
        y = (v @ att.transpose(-1, -2)).reshape(n, c, h, w)
        return x + self.out(y)


class Corrector(nn.Module):
    """The U-Net corrector. ``forward(image, levels)`` returns the corrected image (not clipped)."""

    def __init__(self, config: Config = Config()):
        super().__init__()
        self.config = config
        w, e = config.widths, config.emb_dim
        self.embed = LevelEmbedding(config.freqs, e)
        self.stem = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, w[0], 3, padding=1))
        b = config.block
        self.enc0 = Block(w[0], w[0], e, b)
        self.downs = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 2, stride=2) for i in range(len(w) - 1))
        self.encs = nn.ModuleList(Block(w[i + 1], w[i + 1], e, b) for i in range(len(w) - 1))
        self.attn = Attention(w[-1], config.heads)
        self.mid = Block(w[-1], w[-1], e, b)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(len(w) - 1))
        self.decs = nn.ModuleList(Block(2 * w[i], w[i], e, b) for i in range(len(w) - 1))
        self.head = nn.Conv2d(w[0], 12, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.unfold = nn.PixelShuffle(2)

    def forward(self, image: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        emb = self.embed(levels)
        h = self.enc0(self.stem(image - 0.5), emb)
        skips = [h]
        for down, enc in zip(self.downs, self.encs):
            h = enc(down(h), emb)
            skips.append(h)
        h = self.mid(self.attn(h), emb)
        skips.pop()
        for i in reversed(range(len(self.ups))):
            h = self.decs[i](torch.cat([self.ups[i](h), skips.pop()], dim=1), emb)
        # "relu": the head sees the residual stream itself; a ReLU there can die (all inputs negative), which stops
        # all learning while the head is still near zero
        head_in = h if self.config.block == "relu" else F.silu(h)
        return image + self.unfold(self.head(head_in))


def macs(model: nn.Module, height: int = 512, width: int = 768) -> int:
    """Multiply-accumulates of one forward pass on a (1, 3, height, width) input: convolutions and attention."""
    total = 0

    def conv_hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        # Conv2d: each output value costs cin * k * k; ConvTranspose2d: each input value costs cout * k * k
        total += (out if isinstance(mod, nn.Conv2d) else inp[0]).numel() * mod.weight[0].numel()

    def attn_hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        n, c, h, w = inp[0].shape
        total += 2 * n * c * (h * w) ** 2

    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    hooks = [m.register_forward_hook(conv_hook) for m in convs]
    hooks += [m.register_forward_hook(attn_hook) for m in model.modules() if isinstance(m, Attention)]
    with torch.no_grad():
        model(torch.rand(1, 3, height, width), torch.full((1, 3), 8.0))
    for hk in hooks:
        hk.remove()
    return total
