"""Makes the int8 variant of an exported corrector: onnxruntime static quantization, QDQ format.

Weights are int8 per output channel, activations uint8, calibrated (MinMax) on mid-bin crops of the training photos
at random levels (never Kodak). Only convolutions and matrix products are quantized; the level embedding, the
last decoder block, the output convolution and the residual addition stay float (``--keep-float``): the finest
levels (32 and 64) need the residual's precision. Quantizing the last block too lost 0.7 dB at 32 levels and
1.7 dB at 64 on Kodak (worse than mid-bin); keeping it float costs about 0.1 and 0.2 dB.

Example:
    python onnx/quantize_model.py python/qfast/models/qann-<hash>.onnx --out-dir python/qfast/models
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
from pathlib import Path
from typing import Optional

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
    p.add_argument("--keep-float", default=r"^/head/|^/decs\.0/",
                   help="regular expression: nodes whose names match stay float")
    p.add_argument("--name", default=None, help="file name (default: qann-int8-<sha256 prefix>.onnx)")
    p.add_argument("--ops", default="Conv,ConvTranspose,MatMul", help="operator types to quantize, comma-separated")
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
        out_tmp = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre), str(out_tmp), _Reader(calibration_batches(args)), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
            calibrate_method=CalibrationMethod[args.calibration], op_types_to_quantize=args.ops.split(","),
            nodes_to_exclude=keep,
        )
        data = out_tmp.read_bytes()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / (args.name or f"qann-int8-{hashlib.sha256(data).hexdigest()[:12]}.onnx")
    out.write_bytes(data)
    print(f"wrote {out} ({len(data) / 1e6:.2f} MB)")
    return out


if __name__ == "__main__":
    main()
