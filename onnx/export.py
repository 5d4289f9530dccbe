"""Exports a trained corrector checkpoint to ONNX and checks onnxruntime against PyTorch.

The graph has a fixed opset (:data:`OPSET`), inputs ``image`` (N, 3, H, W) float32 in [0, 1] and ``levels``
(N, 3) float32, output ``corrected`` (N, 3, H, W) float32 (not clipped), with dynamic N, H and W (H and W multiples
of 16). The graph's metadata ``quantizer`` records what the model undoes (``rgb`` or ``ycbcr420``, from the
checkpoint), which ``qfast.Corrector`` reads. A checkpoint of quantization-aware training (``train.py --qat``)
also leaves ``qat_ranges``: the range each fake quantizer was trained with, by the name of the graph tensor it
rounds, which ``quantize_model.py`` then uses instead of calibrating those tensors. The file is named
``qann-<first 12 hex of the sha256 of the ONNX file>.onnx`` (``qann-ycbcr420-...`` for a YCbCr model) unless
``--name`` is given.

Example:
    python onnx/export.py runs/main/best.pt --out-dir python/qfast/models
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import Config, Corrector, FakeQuant, load_qat_ranges  # noqa: E402

OPSET = 17


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """The command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", type=Path, help="a checkpoint written by train.py")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--name", default=None, help="file name (default: qann-<sha256 prefix>.onnx)")
    p.add_argument("--atol", type=float, default=1e-4, help="largest allowed |onnxruntime - torch|")
    return p.parse_args(argv)


def load_checkpoint(path: Path) -> tuple[Corrector, str]:
    """The model in a train.py checkpoint (the moving average of its weights where there is one), in eval mode,
    and the quantizer it was trained to undo. After quantization-aware training its fake quantizers hold the
    trained ranges (and are off)."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = Corrector(Config.from_dict(ck["config"]))
    model.load_state_dict(ck.get("ema", ck["model"]))
    if "qat_ranges" in ck:
        load_qat_ranges(model, ck["qat_ranges"])
    return model.eval(), ck.get("quantizer", "rgb")


def _export(model: Corrector, custom_opsets: Optional[dict] = None) -> bytes:
    buf = io.BytesIO()
    x = torch.rand(1, 3, 64, 64)
    lv = torch.full((1, 3), 8.0)
    kwargs = {}
    if "dynamo" in torch.onnx.export.__code__.co_varnames:
        kwargs["dynamo"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
        torch.onnx.export(
            model,
            (x, lv),
            buf,
            opset_version=OPSET,
            input_names=["image", "levels"],
            output_names=["corrected"],
            dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, "levels": {0: "N"}, "corrected": {0: "N", 2: "H", 3: "W"}},
            do_constant_folding=True,
            custom_opsets=custom_opsets,
            **kwargs,
        )
    return buf.getvalue()


def _marked_ranges(model: Corrector) -> tuple[Any, dict[str, list[float]]]:
    """The graph exported with each fake quantizer as a ``qfast::Mark`` node, those nodes then taken out, and each
    fake quantizer's range by the name of the tensor it rounds. A mark's node name is its module's path (the
    module ``decs.0.fq.5`` marks as ``/decs.0/fq.5/Mark``)."""
    import onnx

    fakes = {n: m for n, m in model.named_modules() if isinstance(m, FakeQuant)}
    for m in fakes.values():
        m.mode = "mark"
    try:
        graph = onnx.load_from_string(_export(model, {"qfast": 1}))
    finally:
        for m in fakes.values():
            m.mode = "off"
    rename: dict[str, str] = {}
    by_tensor: dict[str, list[float]] = {}
    for node in [n for n in graph.graph.node if n.domain == "qfast"]:
        name = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
        if name not in fakes:
            raise RuntimeError(f"cannot tell which fake quantizer the node {node.name!r} marks")
        source = rename.get(node.input[0], node.input[0])
        by_tensor[source] = [float(fakes[name].lo), float(fakes[name].hi)]
        rename[node.output[0]] = source
        graph.graph.node.remove(node)
    for node in graph.graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
    if any(out.name in rename for out in graph.graph.output):
        raise RuntimeError("a fake quantizer marks the graph's output")
    kept = [o for o in graph.opset_import if o.domain != "qfast"]
    del graph.opset_import[:]
    graph.opset_import.extend(kept)
    return graph, by_tensor


def to_onnx_bytes(model: Corrector, quantizer: str = "rgb") -> bytes:
    """The model as ONNX bytes (TorchScript exporter, opset OPSET, dynamic batch, height and width), with the
    metadata ``quantizer`` (and ``qat_ranges`` for a model from quantization-aware training)."""
    import onnx

    props = {"quantizer": quantizer}
    if any(m.hi > m.lo for m in model.modules() if isinstance(m, FakeQuant)):  # ranges of quantization-aware training
        graph, by_tensor = _marked_ranges(model)
        props["qat_ranges"] = json.dumps(by_tensor, sort_keys=True)
    else:
        graph = onnx.load_from_string(_export(model))
    onnx.helper.set_model_props(graph, props)
    return graph.SerializeToString()


def parity(model: Corrector, onnx_bytes: bytes, seed: int = 0) -> float:
    """Largest |onnxruntime - PyTorch| over random inputs of two sizes and mixed levels."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for n, h, w in ((1, 64, 96), (2, 48, 32)):
        x = torch.rand(n, 3, h, w, generator=g)
        lv = torch.randint(2, 65, (n, 3), generator=g).float()
        with torch.no_grad():
            ref = model(x, lv).numpy()
        got = sess.run(None, {"image": x.numpy(), "levels": lv.numpy()})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def main(argv: Optional[list[str]] = None) -> Path:
    """Exports, checks parity and returns the written file's path.

    Raises:
        RuntimeError: onnxruntime differs from PyTorch by more than ``--atol``.
    """
    args = parse_args(argv)
    model, quantizer = load_checkpoint(args.checkpoint)
    data = to_onnx_bytes(model, quantizer)
    err = parity(model, data)
    if err > args.atol:
        raise RuntimeError(f"onnxruntime differs from PyTorch by {err:.2e} > {args.atol:.0e}")
    prefix = "qann-" if quantizer == "rgb" else f"qann-{quantizer}-"
    name = args.name or f"{prefix}{hashlib.sha256(data).hexdigest()[:12]}.onnx"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / name
    out.write_bytes(data)
    print(f"wrote {out} ({len(data) / 1e6:.2f} MB, opset {OPSET}); onnxruntime vs PyTorch max |diff| {err:.2e}")
    return out


if __name__ == "__main__":
    main()
