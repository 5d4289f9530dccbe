"""qfast.transforms against the plain functions: PIL images and HWC arrays here; CHW/BCHW tensors, tensor subclasses
and a real DataLoader with worker processes in the torch-marked tests."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast import transforms as qt


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return np.array(qfast.samples.load()[:96, :128])  # a writable copy


def _plain(name: str, img: np.ndarray) -> np.ndarray:
    """What each transform below must equal: the plain function."""
    pal = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 30]], np.uint8)
    return {
        "quantize": lambda: qfast.quantize_uniform(img, bits=3),
        "lloyd-max": lambda: qfast.quantize_lloyd_max(img, 8).image(),
        "palette": lambda: qfast.quantize_colors(img, 8, dither="bayer4").image(),
        "fixed-palette": lambda: pal[qfast.remap(img, pal)],
        "codec": lambda: qfast.decode(qfast.encode(img, max_error=3)),
        "correct": lambda: qfast.Corrector().correct(qfast.quantize_uniform(img, 8), 8),
    }[name]()


class _Chain:
    """Transforms one after the other (as torchvision's Compose), picklable for DataLoader workers."""

    def __init__(self, *transforms) -> None:
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


TRANSFORMS = {
    "quantize": lambda: qt.Quantize(bits=3),
    "lloyd-max": lambda: qt.Quantize(8, method="lloyd-max"),
    "palette": lambda: qt.Palette(8, dither="bayer4"),
    "fixed-palette": lambda: qt.Palette(palette=[[0, 0, 0], [255, 255, 255], [200, 30, 30]]),
    "codec": lambda: qt.Codec(max_error=3),
    "correct": lambda: _Chain(qt.Quantize(8), qt.Correct(8)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_arrays_and_pil_images_give_the_plain_result(name: str, img: np.ndarray) -> None:
    t = TRANSFORMS[name]()
    want = _plain(name, img)
    got = t(img)
    assert isinstance(got, np.ndarray) and np.array_equal(got, want)
    pil = t(Image.fromarray(img))
    assert isinstance(pil, Image.Image) and np.array_equal(np.asarray(pil), want)


def test_alpha_passes_through_palettes(img: np.ndarray) -> None:
    rgba = np.dstack([img, np.full(img.shape[:2], 77, np.uint8)])
    out = qt.Palette(4)(rgba)
    assert out.shape == rgba.shape and (out[..., 3] == 77).all()


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(TypeError, match="^levels: give exactly one"):
        qt.Quantize()
    with pytest.raises(TypeError, match="^k: give exactly one"):
        qt.Palette(4, palette=[[0, 0, 0]])
    with pytest.raises(TypeError, match="^max_error: give one of"):
        qt.Codec()
    with pytest.raises(ValueError, match="^method: "):
        qt.Quantize(4, method="median")
    with pytest.raises(TypeError, match="^image: expected dtype uint8"):
        qt.Quantize(4)(np.zeros((8, 8), np.float32))


def test_importing_qfast_and_its_transforms_never_imports_torch() -> None:
    code = "import qfast, qfast.transforms, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.fixture
def tt():
    return pytest.importorskip("torch")


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_chw_and_bchw_tensors(name: str, img: np.ndarray, tt) -> None:
    t = TRANSFORMS[name]()
    want = _plain(name, img)
    chw = tt.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    out = t(chw)
    assert isinstance(out, tt.Tensor) and out.dtype == tt.uint8 and tuple(out.shape) == chw.shape
    assert np.array_equal(out.permute(1, 2, 0).numpy(), want)
    batch = tt.stack([chw, chw.flip(-1)])
    outb = t(batch)
    assert tuple(outb.shape) == tuple(batch.shape)
    assert np.array_equal(outb[0].permute(1, 2, 0).numpy(), want)
    assert np.array_equal(outb[1].permute(1, 2, 0).numpy(), _plain(name, np.ascontiguousarray(img[:, ::-1])))


@pytest.mark.torch
def test_tensor_subclasses_come_back_as_themselves(img: np.ndarray, tt) -> None:
    class Picture(tt.Tensor):  # as torchvision's tv_tensors.Image
        pass

    x = tt.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).as_subclass(Picture)
    assert type(qt.Quantize(bits=2)(x)) is Picture


@pytest.mark.torch
def test_bad_tensors_are_clear_errors(tt) -> None:
    q = qt.Quantize(bits=2)
    with pytest.raises(TypeError, match="^image: expected a uint8 tensor, got torch.float32"):
        q(tt.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"^image: expected a \(C, H, W\) or \(B, C, H, W\) tensor"):
        q(tt.zeros(8, 8, 3, 5, dtype=tt.uint8))
    with pytest.raises(ValueError, match=r"^image: expected a \(C, H, W\)"):
        q(tt.zeros(8, 8, dtype=tt.uint8))
    meta = tt.zeros(3, 8, 8, dtype=tt.uint8, device="meta")  # stands in for a CUDA tensor: not on the CPU
    with pytest.raises(TypeError, match="^image: expected a CPU tensor, got one on meta"):
        q(meta)


class _Samples:
    """The bundled photos as CHW uint8 tensors (a Dataset, defined at module level so workers can import it)."""

    def __init__(self, transform) -> None:
        self.names = qfast.samples.names()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        import torch

        img = np.array(qfast.samples.load(self.names[i])[:128, :128])
        return torch.from_numpy(img.transpose(2, 0, 1).copy()), self.transform(
            torch.from_numpy(img.transpose(2, 0, 1).copy())
        )


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("name", ["quantize", "palette", "codec", "correct"])
def test_inside_a_dataloader_with_two_workers(name: str, tt) -> None:
    from torch.utils.data import DataLoader

    # Warm qfast up in the parent first: forked workers then inherit a used thread pool and corrector.
    _plain(name, np.array(qfast.samples.load()[:64, :64]))
    loader = DataLoader(_Samples(TRANSFORMS[name]()), batch_size=1, num_workers=2, timeout=120)
    seen = 0
    for original, out in loader:
        hwc = np.ascontiguousarray(original[0].permute(1, 2, 0).numpy())
        assert np.array_equal(out[0].permute(1, 2, 0).numpy(), _plain(name, hwc))
        seen += 1
    assert seen == len(qfast.samples.names())
