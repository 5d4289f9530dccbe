"""Makes the int8 variant of an exported corrector: onnxruntime static quantization, QDQ format.

Weights are int8 per output channel, activations uint8. By default every convolution (the output one too), ReLU,
matrix product, FiLM multiply-add, skip sum and concatenation is quantized, so the int8 graph has no float islands
between its convolutions. Only the level embedding (computed once per image; rounding it blurs the level), the
attention's scaled logits and softmax (onnxruntime's int8 softmax took about a tenth of the model's time), the last
pixel shuffle, the division by the levels and the residual addition stay float (``--keep-float``). ReLU is in the
list so that onnxruntime folds it into the convolution before it (one rounding, over the ReLU's range).

Activation ranges: a model exported from quantization-aware training (``train.py --qat``) names in its metadata
``qat_ranges`` the range each quantized tensor was trained with, and those tensors keep them; the others are
calibrated (MinMax) on mid-bin crops of the training photos at random levels (never Kodak). The first shipped int8
model (SiLU blocks, not trained for it) was made with ``--ops Conv,ConvTranspose,MatMul --keep-float
'^/head/|^/decs\\.0/'``.

Example:
    python onnx/quantize_model.py python/qfast/models/qann-<hash>.onnx --out-dir python/qfast/models
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import DEFAULT_DATA, load_images, make_batch, split  # noqa: E402


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """The command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", type=Path, help="the fp32 ONNX model")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of training PNGs")
    p.add_argument("--crops", type=int, default=64, help="calibration crops")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--limit-images", type=int, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--keep-float",
        default=r"^/embed/|^/unfold/|^/Add$|^/attn/Mul_1$",
        help="regular expression: nodes whose names match stay float",
    )
    p.add_argument("--name", default=None, help="file name (default: qann-int8-<sha256 prefix>.onnx)")
    p.add_argument(
        "--ops",
        default="Conv,ConvTranspose,MatMul,Mul,Add,Concat,Relu",
        help="operator types to quantize, comma-separated",
    )
    p.add_argument("--calibration", default="MinMax", choices=["MinMax", "Entropy", "Percentile"])
    return p.parse_args(argv)


class _Reader:
    """A CalibrationDataReader over mid-bin training crops, one at a time."""

    def __init__(self, batches: list[dict]):
        self.it = iter(batches)

    def get_next(self) -> Optional[dict]:
        return next(self.it, None)


def calibration_batches(args: argparse.Namespace) -> list[dict]:
    """``--crops`` inputs of one crop each, random levels, from the training split."""
    train, _ = split(load_images(args.data, args.limit_images), 15)
    rng = np.random.default_rng(args.seed)
    x, lv, _ = make_batch(train, rng, args.crops, args.crop)
    return [{"image": x[i : i + 1].numpy(), "levels": lv[i : i + 1].numpy()} for i in range(len(x))]


def trained_ranges(model: Any, pre: Any) -> dict[str, list[dict]]:
    """onnxruntime's ``TensorQuantOverrides`` for the ranges of quantization-aware training (``export.py``'s
    metadata ``qat_ranges``; none for other models): those tensors keep the ranges the network was trained with,
    the others are calibrated. ``pre`` is the graph as quantization sees it (after its pre-processing)."""
    meta = {p.key: p.value for p in model.metadata_props}
    if "qat_ranges" not in meta:
        return {}
    ranges = json.loads(meta["qat_ranges"])
    names = {o for n in pre.graph.node for o in n.output}
    missing = sorted(set(ranges) - names)
    if missing:
        raise ValueError(f"qat_ranges: the graph has no tensors {missing[:3]}")
    print(f"{len(ranges)} tensors keep the ranges of quantization-aware training")
    return {t: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}] for t, (lo, hi) in ranges.items()}


def main(argv: Optional[list[str]] = None) -> Path:
    """Quantizes and returns the written file's path (``qann-int8-<sha256 prefix>.onnx``)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    import onnx

    args = parse_args(argv)
    model = onnx.load(str(args.model))
    # quantize the U-Net's convolutions and attention products, except the nodes --keep-float names
    keep = [n.name for n in model.graph.node if re.search(args.keep_float, n.name)]
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(args.model), str(pre), skip_symbolic_shape=True)
        overrides = trained_ranges(model, onnx.load(str(pre)))
        out_tmp = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(out_tmp),
            _Reader(calibration_batches(args)),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod[args.calibration],
            op_types_to_quantize=args.ops.split(","),
            nodes_to_exclude=keep,
            extra_options={"TensorQuantOverrides": overrides},
        )
        data = out_tmp.read_bytes()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / (args.name or f"qann-int8-{hashlib.sha256(data).hexdigest()[:12]}.onnx")
    out.write_bytes(data)
    print(f"wrote {out} ({len(data) / 1e6:.2f} MB)")
    return out


if __name__ == "__main__":
    main()
