"""What the API accepts beyond NumPy arrays, and NumPy's conventions it follows: array-likes in (``__array__``,
``__dlpack__``, buffers, CPU torch tensors), stacks of images ``(N, H, W[, C])`` for the elementwise functions,
and ``out=``.

Array-likes are read without a copy where they already are uint8 and contiguous (``np.asarray`` / DLPack). A torch
tensor is never silently reinterpreted: qfast's layout is HWC, and a 3-D tensor that is CHW by its shape (a
channel count first, not last) is an error that says so (``qfast.transforms`` takes CHW tensors).
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import numpy as np


def as_array(obj: Any, arg: str) -> Any:
    """``obj`` as a NumPy array when it is an array-like (NumPy arrays and everything else pass unchanged)."""
    if isinstance(obj, np.ndarray) or type(obj).__module__.startswith("PIL."):
        return obj  # PIL images convert by their mode (qfast._validate), not as raw buffers
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return _from_torch(obj, arg)
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        try:
            return np.from_dlpack(obj)
        except (TypeError, RuntimeError, BufferError) as e:
            raise TypeError(f"{arg}: an array-like NumPy cannot read ({e}); pass a CPU array") from None
    if hasattr(obj, "__array__") or hasattr(obj, "__array_interface__") or isinstance(obj, memoryview):
        return np.asarray(obj)
    return obj


def _from_torch(x: Any, arg: str) -> np.ndarray:
    if x.device.type != "cpu":
        raise TypeError(f"{arg}: expected a CPU tensor, got one on {x.device} (move it with .cpu() first)")
    if x.ndim == 3 and 1 <= x.shape[0] <= 4 and not 1 <= x.shape[2] <= 4:
        raise ValueError(
            f"{arg}: a tensor of shape {tuple(x.shape)} looks like (C, H, W), and qfast takes (H, W, C): pass "
            "x.permute(1, 2, 0), or use qfast.transforms, which take (C, H, W) tensors"
        )
    return x.detach().numpy()  # shares the tensor's memory


def as_stack(obj: Any, arg: str) -> Any:
    """A list or tuple of images of one shape stacked into one array ``(N, H, W[, C])``; anything else as
    :func:`as_array` reads it."""
    from ._validate import as_image

    if not isinstance(obj, (list, tuple)) or not obj or isinstance(obj[0], (list, tuple, int, float)):
        return as_array(obj, arg)  # not a sequence of images (nested lists are refused as images are)
    frames = [as_image(f, f"{arg}[{i}]") for i, f in enumerate(obj)]
    for i, f in enumerate(frames):
        if f.shape != frames[0].shape:
            raise ValueError(
                f"{arg}: expected images of one shape to stack, got {frames[0].shape} at [0] and {f.shape} at [{i}]"
            )
    stacked = np.stack(frames)
    return stacked if stacked.ndim == 4 else stacked[..., None]  # grey images (H, W) stack as (N, H, W, 1)


def stack_input(image: Any, arg: str) -> tuple[np.ndarray, Optional[tuple[int, ...]]]:
    """A checked image, or a stack ``(N, H, W, C)`` seen as one ``(N * H, W, C)`` image for elementwise work.

    Returns:
        (the image to work on, the stack's shape or None for a single image).
    """
    from ._validate import as_image

    arr = as_stack(image, arg)
    if isinstance(arr, np.ndarray) and arr.ndim == 4:
        if arr.dtype != np.uint8:
            raise TypeError(f"{arg}: expected dtype uint8, got {arr.dtype}")
        if not 1 <= arr.shape[3] <= 4 or 0 in arr.shape:
            raise ValueError(f"{arg}: expected a non-empty stack (N, H, W, C) with C in 1..4, got {arr.shape}")
        arr = np.ascontiguousarray(arr)
        return arr.reshape(arr.shape[0] * arr.shape[1], arr.shape[2], arr.shape[3]), arr.shape
    return as_image(arr, arg), None


def check_out(
    out: Any, shape: tuple[int, ...], inputs: tuple[np.ndarray, ...], dtype: Any = np.uint8
) -> tuple[Optional[np.ndarray], bool]:
    """Checks ``out`` (NumPy's convention) for a result of ``shape`` and ``dtype``.

    Returns:
        (``out`` seen with the shape the core writes, or None without ``out``; whether an input overlaps it and must
        be copied first).

    Raises:
        TypeError: ``out`` is not a NumPy array of ``dtype``. ValueError: wrong shape, read-only, or not C-contiguous.
    """
    if out is None:
        return None, False
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a NumPy {np.dtype(dtype)} array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out: expected dtype {np.dtype(dtype)}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"out: expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out: expected a writeable array, got a read-only one")
    if not out.flags.c_contiguous:
        raise ValueError("out: expected a C-contiguous array")
    return out, any(np.shares_memory(out, a) for a in inputs)


def elementwise(core: Any, img: np.ndarray, stack: Optional[tuple[int, ...]], out: Any, *args: Any) -> np.ndarray:
    """Runs an elementwise core function, ``core(img, *args, out)``, on what :func:`stack_input` returned: into
    ``out`` if given (checked, and returned), else into a new array of the image's or the stack's shape."""
    shape = stack if stack is not None else img.shape
    target, overlaps = check_out(out, shape, (img,))
    if overlaps:
        img = img.copy()  # in place (out=image): the kernel reads the input while it writes the output
    res = core(img, *args, None if target is None else target.reshape(img.shape))
    if target is not None:
        return target
    return res.reshape(stack) if stack is not None else res
