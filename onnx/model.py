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
- Blocks (``Config.block``): ``"silu"`` (the models ``rgb-v1`` and ``ycbcr420``) is SiLU, conv, FiLM, SiLU, conv,
  and the head sees SiLU of the features; ``"relu"`` (the default and int8 models) is conv, ReLU, conv, FiLM, and
  the head sees the features as they are, built for int8: each ReLU fuses into its int8 convolution, and the one
  FiLM per block can be quantized too, so the int8 graph has no float islands between convolutions (onnxruntime
  then keeps it in NHWC without a layout change around every block).
- Residual (``Config.residual``): ``"image"`` (``rgb-v1`` and ``ycbcr420``) adds the head's output as it is;
  ``"bins"`` (the default and int8) divides each channel's by its level count first, so the network predicts the
  correction in bins. Its features then carry a correction of the same size at every level, and the int8 graph's
  rounding of them (one step per tensor, set by the widest values, which the coarsest levels make) costs fine
  levels no more than coarse ones: in image units it shrinks with the bin. Without it, int8 lost 2.3 dB at 64
  levels.
- Quantization-aware training (:func:`set_qat`, ``"relu"`` blocks only): the tensors that onnxruntime's static QDQ
  quantization (``onnx/quantize_model.py``) turns into uint8 pass through a :class:`FakeQuant` (per tensor,
  asymmetric, 0..255, its range fixed by a calibration pass and kept with the checkpoint), and every convolution
  weight through a per-output-channel symmetric int8 rounding, so the network learns weights that survive the int8
  graph. Gradients pass the rounding straight through. Not simulated, as small: the head (its output is in bins),
  the FiLM scale before its ``1 +``, and the attention's inner tensors beyond q, k, v as one. Off (the default),
  the fake quantizers are the identity and export nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

STRIDE = 16  # H and W must be multiples of this: 2 ** (number of downsamplings)
BLOCKS = ("silu", "relu")
RESIDUALS = ("image", "bins")
MAX_LEVELS = 64  # trained on 2..MAX_LEVELS levels per channel


@dataclass(frozen=True)
class Config:
    """Model size. ``widths`` are the channel counts at 1/2, 1/4, 1/8 and 1/16 resolution."""

    widths: tuple[int, ...] = (16, 24, 32, 48)
    emb_dim: int = 64
    freqs: int = 6
    heads: int = 2
    block: str = "silu"  # "silu" or "relu" (see the module's docstring)
    residual: str = "image"  # "image" or "bins": the unit of the head's output (see the module's docstring)

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"block: expected one of {BLOCKS}, got {self.block!r}")
        if self.residual not in RESIDUALS:
            raise ValueError(f"residual: expected one of {RESIDUALS}, got {self.residual!r}")

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
#: The int8-friendly shape: ReLU blocks, twice the width (about 4x the MACs of the default, still far under budget),
#: the correction in bins.
INT8 = Config(widths=(32, 48, 64, 96), block="relu", residual="bins")


class _Mark(torch.autograd.Function):
    """The identity, exported to ONNX as a ``qfast::Mark`` node: it shows which graph tensor a :class:`FakeQuant`
    rounds (``export.py`` reads and removes these nodes)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def symbolic(g: Any, x: Any) -> Any:
        return g.op("qfast::Mark", x).setType(x.type())


class FakeQuant(nn.Module):
    """Simulates onnxruntime's uint8 activation quantization of one tensor (per tensor, asymmetric, the range always
    including 0). ``mode``: ``"off"`` (the identity), ``"observe"`` (widen the range to the values seen, pass them
    through), ``"quant"`` (round to the 256 steps of the fixed range; the gradient passes straight through inside
    the range) or ``"mark"`` (the identity, marked in an ONNX export). The range is not part of the state dict:
    checkpoints keep it apart (:func:`qat_ranges`)."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = "off"
        self.register_buffer("lo", torch.zeros(()), persistent=False)
        self.register_buffer("hi", torch.zeros(()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "off":
            return x
        if self.mode == "mark":
            return _Mark.apply(x)
        if self.mode == "observe":
            with torch.no_grad():
                self.lo.copy_(torch.minimum(self.lo, x.min()))
                self.hi.copy_(torch.maximum(self.hi, x.max()))
            return x
        scale = ((self.hi - self.lo) / 255).clamp(min=1e-8)
        zero = torch.round(-self.lo / scale).to(torch.int32)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)


class WeightQuant(nn.Module):
    """A parametrization: the weight rounded as onnxruntime stores it, int8 symmetric per output channel (``axis``
    0 for a convolution, 1 for a transposed one)."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        dims = tuple(d for d in range(w.dim()) if d != self.axis)
        scale = (w.detach().abs().amax(dim=dims) / 127.5).clamp(min=1e-12)
        zero = torch.zeros(scale.shape, dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(w, scale, zero, self.axis, -128, 127)


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
        # the tensors the int8 graph quantizes: skip, conv1 (after its fused ReLU), conv2, FiLM's two factors, the
        # product, the sum with the skip and the output
        self.fq = nn.ModuleList(FakeQuant() for _ in range(8))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        if self.kind == "relu":
            q = self.fq
            s = q[0](self.skip(x)) if isinstance(self.skip, nn.Conv2d) else x
            h = q[2](self.conv2(q[1](F.relu(self.conv1(x)))))
            h = q[5](h * q[3](1 + scale))
            return q[7](q[6](s + h) + q[4](shift))
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
        # int8 graph: the norm's output, qkv, the two products, the scaled logits, the softmax, out and the sum
        self.fq = nn.ModuleList(FakeQuant() for _ in range(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        fq = self.fq
        qkv = fq[1](self.qkv(fq[0](self.norm(x))))
        q, k, v = qkv.reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        logits = fq[3](fq[2](q.transpose(-1, -2) @ k) * (c // self.heads) ** -0.5)
        att = fq[4](torch.softmax(logits, dim=-1))  # (N, heads, HW, HW)
        y = fq[5](v @ att.transpose(-1, -2)).reshape(n, c, h, w)
        return fq[7](x + fq[6](self.out(y)))


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
        # int8 graph: the stem's input and output, each downsampling, each upsampling and each concatenation
        n = len(w) - 1
        self.fq = nn.ModuleList(FakeQuant() for _ in range(2 + 3 * n))

    def forward(self, image: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        emb = self.embed(levels)
        fq, n = self.fq, len(self.downs)
        h = self.enc0(fq[1](self.stem[1](fq[0](self.stem[0](image - 0.5)))), emb)
        skips = [h]
        for i, (down, enc) in enumerate(zip(self.downs, self.encs)):
            h = enc(fq[2 + i](down(h)), emb)
            skips.append(h)
        h = self.mid(self.attn(h), emb)
        skips.pop()
        for i in reversed(range(len(self.ups))):
            up = fq[2 + n + i](self.ups[i](h))
            h = self.decs[i](fq[2 + 2 * n + i](torch.cat([up, skips.pop()], dim=1)), emb)
        # "relu": the head sees the residual stream itself; a ReLU there can die (all inputs negative), which stops
        # all learning while the head is still near zero
        head_in = h if self.config.block == "relu" else F.silu(h)
        residual = self.unfold(self.head(head_in))
        if self.config.residual == "bins":
            residual = residual / levels.clamp(min=2.0)[:, :, None, None]
        return image + residual


def set_qat(model: Corrector, mode: str) -> None:
    """Switches quantization-aware training: ``mode`` is each :class:`FakeQuant`'s (``"off"``, ``"observe"`` or
    ``"quant"``). The first call with another mode than ``"off"`` also puts :class:`WeightQuant` on every convolution
    weight but the head's (not simulated: see the module's docstring); :func:`float_state` gives the plain state
    dict."""
    if model.config.block != "relu":
        raise ValueError(f"quantization-aware training needs the 'relu' blocks, not {model.config.block!r}")
    for m in model.modules():
        if isinstance(m, FakeQuant):
            m.mode = mode
    if mode == "off":
        return
    for m in model.modules():
        if m is model.head or parametrize.is_parametrized(m, "weight"):
            continue
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            axis = 1 if isinstance(m, nn.ConvTranspose2d) else 0
            parametrize.register_parametrization(m, "weight", WeightQuant(axis))


def qat_ranges(model: Corrector) -> dict[str, list[float]]:
    """Each :class:`FakeQuant`'s range, ``[lo, hi]``, by module name (what a checkpoint keeps)."""
    return {n: [float(m.lo), float(m.hi)] for n, m in model.named_modules() if isinstance(m, FakeQuant)}


def load_qat_ranges(model: Corrector, ranges: dict[str, list[float]]) -> None:
    """Sets the ranges :func:`qat_ranges` returned (every :class:`FakeQuant` must be named)."""
    fakes = {n: m for n, m in model.named_modules() if isinstance(m, FakeQuant)}
    if set(fakes) != set(ranges):
        raise ValueError(f"qat ranges: expected {len(fakes)} fake quantizers' ranges, got {len(ranges)} others")
    for n, m in fakes.items():
        m.lo.fill_(ranges[n][0])
        m.hi.fill_(ranges[n][1])


def float_state(model: Corrector) -> dict[str, torch.Tensor]:
    """The model's state dict with quantization-aware training's parametrizations taken out (the float weights under
    their usual names), loadable by a plain :class:`Corrector`."""
    return {k.replace("parametrizations.weight.original", "weight"): v for k, v in model.state_dict().items()}


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
