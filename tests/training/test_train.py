"""A tiny training run, its resumption, the ONNX export and onnxruntime parity: keeps onnx/ from rotting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ONNX_DIR = Path(__file__).resolve().parents[2] / "onnx"

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def scripts():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    torch.set_num_threads(2)
    sys.path.insert(0, str(ONNX_DIR))
    try:
        import export
        import model
        import train

        yield train, export, model
    finally:
        sys.path.remove(str(ONNX_DIR))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small synthetic photos (gradients, edges, texture): the test needs no data set."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:80, 0:96].astype(np.float32)
    for k in range(6):
        img = 128 + 100 * np.sin(xx[..., None] / (9 + k) + yy[..., None] / 17 + np.arange(3))
        img[yy > 40 + 3 * k] += 30
        img += rng.normal(0, 4, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"img{k}.png")
    return folder


def _small_run(data: Path, **options: object) -> list[str]:
    """Arguments of ``train.py`` for a run of a few steps on ``data``: 32-pixel crops, one validation crop of every
    third image, then ``options`` (``eval_interval=4`` gives ``--eval-interval 4``; ``True`` a bare flag)."""
    args = ["--data", str(data), "--crop", "32", "--val-every", "3", "--val-crops", "1"]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}"] + ([] if value is True else [str(value)])
    return args


def test_tiny_training_export_and_parity(scripts, data: Path, tmp_path: Path) -> None:
    import onnxruntime as ort
    import torch

    train, export, model = scripts
    args = _small_run(data, out=tmp_path / "run", shape="tiny", batch=4, eval_interval=5, log_interval=5, warmup=2)
    first = train.main([*args, "--steps", "6"])
    assert first["steps"] == 6 and Path(first["last"]).exists() and Path(first["best"]).exists()
    resumed = train.main([*args, "--steps", "10"])
    assert resumed["steps"] == 10
    assert "resumed from" in (tmp_path / "run" / "train.log").read_text()

    onnx_path = export.main([first["last"], "--out-dir", str(tmp_path / "models")])
    assert onnx_path.name.startswith("qann-") and onnx_path.suffix == ".onnx"

    net, quantizer = export.load_checkpoint(Path(first["last"]))
    assert quantizer == "rgb"
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(1)
    for h, w in ((32, 48), (80, 16)):  # dynamic height and width
        x = torch.rand(2, 3, h, w, generator=g)
        lv = torch.tensor([[2.0, 17.0, 64.0], [5.0, 5.0, 33.0]])
        with torch.no_grad():
            ref = net(x, lv).numpy()
        got = sess.run(None, {"image": x.numpy(), "levels": lv.numpy()})[0]
        np.testing.assert_allclose(got, ref, atol=1e-4)


@pytest.mark.parametrize("shape", ["default", "int8"])
def test_model_budget_and_identity_at_start(scripts, shape: str) -> None:
    import torch

    train, _, model = scripts
    net = model.Corrector(train.SHAPES[shape]).eval()
    assert model.macs(net) <= 25e9  # the budget for 768 x 512
    assert sum(p.numel() for p in net.parameters()) * 4 <= 8_000_000
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        np.testing.assert_array_equal(net(x, torch.full((1, 3), 4.0)).numpy(), x.numpy())  # untrained: identity


def test_relu_blocks_export_without_float_activations(scripts) -> None:
    import torch

    import onnx

    _, export, model = scripts
    net = model.Corrector(model.Config(widths=(4, 8, 8, 8), emb_dim=8, freqs=2, heads=1, block="relu")).eval()
    for p in net.parameters():  # away from the identity, so the FiLM and the head take part
        torch.nn.init.normal_(p, 0, 0.1)
    graph = onnx.load_from_string(export.to_onnx_bytes(net))
    assert any(n.op_type == "Relu" for n in graph.graph.node)
    # SiLU only in the level embedding's MLP (a few numbers): every activation of the image can fuse into a conv
    assert all(n.name.startswith("/embed/") for n in graph.graph.node if n.op_type == "Sigmoid")
    assert export.parity(net, graph.SerializeToString()) < 1e-4
    with pytest.raises(ValueError, match="block: expected one of"):
        model.Config(block="gelu")


def test_fake_quant_rounds_like_uint8_and_int8(scripts) -> None:
    import torch

    _, _, model = scripts
    rng = np.random.default_rng(3)
    x = rng.normal(0.2, 1.0, 1000).astype(np.float32)
    fq = model.FakeQuant()
    fq.mode = "observe"
    np.testing.assert_array_equal(fq(torch.from_numpy(x)).numpy(), x)  # observing passes values through
    fq(torch.tensor([-0.5, 0.5]))  # wider on the low side only
    lo, hi = min(-0.5, x.min()), max(0.0, x.max())
    assert float(fq.lo) == pytest.approx(lo) and float(fq.hi) == pytest.approx(hi)
    fq.mode = "quant"
    # the uint8 round trip of onnxruntime's QuantizeLinear / DequantizeLinear, written out in NumPy
    scale = np.float32((hi - lo) / 255)
    zero = np.round(-lo / scale)
    ref = (np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale
    np.testing.assert_allclose(fq(torch.from_numpy(x)).numpy(), ref, atol=1e-6)

    w = rng.normal(0, 1, (5, 4, 3, 3)).astype(np.float32) * np.arange(1, 6, dtype=np.float32)[:, None, None, None]
    got = model.WeightQuant(0)(torch.from_numpy(w)).numpy()
    s = np.abs(w).max(axis=(1, 2, 3), keepdims=True) / 127.5  # symmetric int8, one scale per output channel
    ref = np.clip(np.round(w / s), -128, 127) * s
    inner = np.abs(w) < np.abs(w).max(axis=(1, 2, 3), keepdims=True)  # each channel's extreme sits on a half step
    np.testing.assert_allclose(got[inner], ref[inner], atol=1e-6)
    assert np.all(np.abs(got - w) <= np.broadcast_to(s, w.shape) * 0.5001)
    assert len(np.unique(got[2])) <= 256


def test_bins_residual_divides_the_head_by_the_levels(scripts) -> None:
    import torch

    train, _, model = scripts
    net = model.Corrector(train.SHAPES["tiny-int8"]).eval()
    with torch.no_grad():
        net.head.bias.copy_(torch.arange(12, dtype=torch.float32))  # pixel shuffle: channel c gets 4c .. 4c + 3
    x = torch.rand(1, 3, 32, 32)
    lv = torch.tensor([[2.0, 8.0, 64.0]])
    with torch.no_grad():
        got = (net(x, lv) - x).numpy()[0]
    for c, L in enumerate((2, 8, 64)):
        np.testing.assert_allclose(got[c, 0::2, 0::2], 4 * c / L, atol=1e-6)
        np.testing.assert_allclose(got[c, 1::2, 1::2], (4 * c + 3) / L, atol=1e-6)


def test_quantization_aware_fine_tuning_resumes_and_exports(scripts, data: Path, tmp_path: Path) -> None:
    import torch

    train, export, model = scripts
    base = _small_run(data, batch=2, eval_interval=4, log_interval=4, warmup=1)
    plain = model.Config(widths=(4, 8, 8, 8), emb_dim=8, freqs=2, heads=1, block="relu")
    ck = tmp_path / "plain.pt"
    torch.save({"model": model.Corrector(plain).state_dict(), "config": plain.to_dict(), "step": 0}, ck)
    qat_args = [
        *base,
        "--out",
        str(tmp_path / "qat"),
        "--init",
        str(ck),
        "--residual",
        "bins",
        "--qat",
        "--qat-calibration",
        "2",
    ]
    assert train.main([*qat_args, "--steps", "4"])["steps"] == 4
    first = torch.load(tmp_path / "qat" / "last.pt", map_location="cpu", weights_only=False)["qat_ranges"]
    assert train.main([*base, "--out", str(tmp_path / "qat"), "--steps", "6"])["steps"] == 6  # resumes, still QAT
    log = (tmp_path / "qat" / "train.log").read_text()
    assert log.count("quantization-aware: activation ranges observed") == 1
    assert log.count("quantization-aware: activation ranges restored") == 1
    saved = torch.load(tmp_path / "qat" / "last.pt", map_location="cpu", weights_only=False)
    assert saved["qat_ranges"] == first  # the ranges stay those the run started with
    assert saved["qat"] and saved["config"]["residual"] == "bins"
    assert not any("parametrizations" in k for k in saved["model"])  # plain weights: loadable without QAT
    assert Path(saved["lineage"][-1]["from"]).resolve() == ck.resolve()
    assert not Path(saved["args"]["out"]).is_absolute()  # checkpoints name no machine's folders
    assert len(saved["qat_ranges"]) == sum(isinstance(m, model.FakeQuant) for m in model.Corrector(plain).modules())
    # a further quantization-aware run from it, on other content, keeps the ranges its weights were trained with
    again = train.main(
        [
            *base,
            "--out",
            str(tmp_path / "qat2"),
            "--init",
            str(tmp_path / "qat" / "last.pt"),
            "--qat",
            "--steps",
            "2",
            "--synthetic",
            "0.5",
            "--synthetic-pool",
            "4",
        ]
    )
    assert torch.load(again["last"], map_location="cpu", weights_only=False)["qat_ranges"] == first
    assert "activation ranges kept from" in (tmp_path / "qat2" / "train.log").read_text()
    onnx_path = export.main([str(tmp_path / "qat" / "last.pt"), "--out-dir", str(tmp_path / "models")])

    # the export names the graph tensor of each fake quantizer; int8 quantization keeps those trained ranges
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path))
    assert not any(n.domain == "qfast" for n in graph.graph.node)  # the marks are gone
    ranges = json.loads({p.key: p.value for p in graph.metadata_props}["qat_ranges"])
    produced = {o for n in graph.graph.node for o in n.output}
    assert len(ranges) >= 20 and set(ranges) <= produced
    assert {tuple(r) for r in ranges.values()} <= {tuple(r) for r in saved["qat_ranges"].values()}
    quantize = _quantize_module()
    int8_path = quantize.main(
        [
            str(onnx_path),
            "--out-dir",
            str(tmp_path / "models"),
            "--data",
            str(data),
            "--crops",
            "2",
            "--crop",
            "32",
            "--name",
            "int8.onnx",
        ]
    )
    q = onnx.load(str(int8_path))
    consts = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    scales = {n.input[0]: float(consts[n.input[1]]) for n in q.graph.node if n.op_type == "QuantizeLinear"}
    checked = [t for t in ranges if t in scales and ranges[t][1] > ranges[t][0]]  # (zero-initialised layers: none)
    assert len(checked) >= 15
    for t in checked:  # uint8, the range widened to hold 0, as the fake quantizer rounds
        lo, hi = min(ranges[t][0], 0.0), max(ranges[t][1], 0.0)
        assert scales[t] == pytest.approx((hi - lo) / 255, rel=1e-5), t

    # bad input: ranges for tensors the graph lacks, or for other fake quantizers, are refused by name
    graph.metadata_props[-1].value = json.dumps({"/no/such/tensor": [0.0, 1.0]})
    stale = tmp_path / "models" / "stale.onnx"
    onnx.save(graph, str(stale))
    with pytest.raises(ValueError, match="qat_ranges: the graph has no tensors"):
        quantize.main(
            [str(stale), "--out-dir", str(tmp_path / "models"), "--data", str(data), "--crops", "1", "--crop", "32"]
        )
    with pytest.raises(ValueError, match="qat ranges: expected"):
        model.load_qat_ranges(model.Corrector(plain), {"fq.0": [0.0, 1.0]})
    with pytest.raises(ValueError, match="residual: expected one of"):
        model.Config(residual="pixels")
    with pytest.raises(SystemExit):
        train.parse_args(["--out", str(tmp_path / "new"), "--qat"])  # QAT fine-tunes: it needs --init
    with pytest.raises(ValueError, match="'relu' blocks"):
        model.set_qat(model.Corrector(train.SHAPES["tiny"]), "quant")


def _quantize_module():
    pytest.importorskip("onnxruntime.quantization")
    import quantize_model

    return quantize_model


def test_levels_drawn_log_uniform_in_range(scripts) -> None:
    train, _, _ = scripts
    lv = train.random_levels(np.random.default_rng(0), 20000)
    assert lv.min() == 2 and lv.max() == 64
    # log-uniform: about as many draws in 2..8 as in 8..32
    a, b = ((lv >= 2) & (lv < 8)).mean(), ((lv >= 8) & (lv < 32)).mean()
    assert 0.8 < a / b < 1.25


def test_ycbcr420_fine_tuning_exports_a_model_the_runtime_knows(scripts, data: Path, tmp_path: Path) -> None:
    import qfast

    train, export, _ = scripts
    base = _small_run(data, shape="tiny", batch=2, eval_interval=3, log_interval=3, warmup=1, steps=3)
    rgb = train.main([*base, "--out", str(tmp_path / "rgb")])
    ycc = train.main([*base, "--out", str(tmp_path / "ycc"), "--quantizer", "ycbcr420", "--init", rgb["last"]])
    assert "starting from the weights of" in (tmp_path / "ycc" / "train.log").read_text()
    import torch

    lineage = torch.load(ycc["last"], weights_only=False)["lineage"]
    assert [(r["quantizer"], r["steps"]) for r in lineage] == [("rgb", 3)]
    with pytest.raises(SystemExit, match="quantizer"):  # resuming under the other quantizer
        train.main([*base, "--out", str(tmp_path / "ycc"), "--steps", "4"])
    path = export.main([ycc["last"], "--out-dir", str(tmp_path / "models")])
    assert path.name.startswith("qann-ycbcr420-")
    c = qfast.Corrector(path)
    assert c.quantizer == "ycbcr420"
    img = np.asarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3)), np.uint8)
    mid = qfast.decode(qfast.encode(img, levels=[8, 16, 16], subsample=True, corrector=None))
    assert c.correct(mid, [8, 16, 16]).shape == img.shape
    with pytest.raises(ValueError, match="clamp"):
        c.correct(mid, [8, 16, 16], clamp=True)
    assert qfast.Corrector(export.main([rgb["last"], "--out-dir", str(tmp_path / "models")])).quantizer == "rgb"


def test_ycbcr420_levels_and_inputs(scripts) -> None:
    train, _, _ = scripts
    lv = train.random_levels(np.random.default_rng(0), 5000, "ycbcr420")
    assert lv[:, 0].min() == 2 and lv[:, 0].max() == 128
    ratio = lv[:, 1:] / lv[:, :1]
    assert ratio.min() >= 1 and ratio[lv[:, 1:] < 256].max() <= 3 and lv[:, 1:].max() == 256
    # the input is exactly what the codec's decoder reconstructs
    img = np.asarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3)), np.uint8)
    import qfast

    ref = qfast.decode(qfast.encode(img, levels=[6, 12, 9], subsample=True, corrector=None), correct=False)
    np.testing.assert_array_equal(train.degrade(img, [6, 12, 9], "ycbcr420"), ref)
    np.testing.assert_array_equal(train.degrade(img, [6, 12, 9], "rgb"), qfast.quantize_uniform(img, [6, 12, 9]))


def test_bad_crop_size(scripts) -> None:
    train, _, _ = scripts
    with pytest.raises(SystemExit):
        train.parse_args(["--out", "x", "--crop", "40"])


def test_db_loss_is_the_psnr_change_against_mid_bin(scripts) -> None:
    """Against PSNR computed in NumPy: the loss is minus the mean dB gain, and a crop made worse costs
    ``1 + worse_weight`` times its loss in dB."""
    import torch

    train, _, _ = scripts
    rng = np.random.default_rng(3)
    target = rng.random((4, 3, 16, 16))
    inp = target + rng.normal(0, 0.05, target.shape)
    out = target + rng.normal(0, 0.05, target.shape) * np.array([0.5, 0.25, 1.0, 2.0])[:, None, None, None]
    floor = 0.25 / 255**2
    mse = lambda a: ((a - target) ** 2).mean(axis=(1, 2, 3)) + floor  # noqa: E731
    change = 10 * np.log10(mse(out) / mse(inp))  # dB lost per crop
    assert (change[:3] < 0).all() and change[3] > 0  # three crops improved, the fourth made worse
    t = lambda a: torch.from_numpy(a).float()  # noqa: E731
    for w in (0.0, 2.0):
        got = float(train.db_loss(t(out), t(target), t(inp), w))
        assert got == pytest.approx(float(np.mean(change + w * np.maximum(change, 0))), rel=1e-4)
    # an exact input: any change from it is counted against the rounding floor, not divided by zero
    exact = float(train.db_loss(t(target + 1 / 255), t(target), t(target), 0.0))
    assert exact == pytest.approx(10 * np.log10((1 / 255**2 + floor) / floor), rel=1e-4)


def test_synthetic_crops_augmentation_and_db_loss_train_and_validate(scripts, data: Path, tmp_path: Path) -> None:
    """A tiny run with every new option: the synthetic validation set is reported beside the photos', and the
    crops drawn are synthetic in about the fraction asked."""
    train, _, _ = scripts
    args = _small_run(
        data,
        out=tmp_path / "run",
        shape="tiny",
        batch=4,
        eval_interval=4,
        log_interval=2,
        warmup=1,
        steps=4,
        synthetic=0.5,
        synthetic_pool=8,
        augment=True,
        loss="db",
    )
    res = train.main(args)
    assert res["steps"] == 4
    import torch

    val = torch.load(res["best"], weights_only=False)["val"]
    assert sorted(val) == sorted([str(L) for L in train.VAL_LEVELS] + [f"syn{L}" for L in train.VAL_LEVELS])
    pool = [np.full((64, 64, 3), 7, np.uint8)]  # a marker: every crop from it is flat 7
    photos = [np.full((64, 64, 3), 200, np.uint8)]
    rng = np.random.default_rng(0)
    _, _, y = train.make_batch(photos, rng, 400, 32, drawn=pool, drawn_fraction=0.3)
    share = float((y[:, 0, 0, 0] * 255).round().eq(7).float().mean())
    assert 0.22 < share < 0.38
    with pytest.raises(SystemExit):
        train.parse_args(["--out", "x", "--synthetic", "1.5"])
