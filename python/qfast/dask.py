"""qfast on a Dask cluster (``pip install ".[dask]"`` from the checkout): the batch commands as Dask tasks, the
shared palette by a tree reduction of histograms, and ``dask.array`` images larger than memory.

Dask is the engine: qfast writes no scheduler. Two uses:

- **Many files** (:class:`DaskEngine`, or ``qfast.batch.run(..., client=client)``, or ``qfast batch ...
  --scheduler ADDRESS``): the tasks of :mod:`qfast.batch` (:func:`qfast.batch.process`: a path in, a
  :class:`~qfast.batch.FileResult` out) run on the cluster's workers, which read and write the files themselves, so
  the files must be on storage every worker sees (a shared file system) under the same paths. Outputs and manifest
  are the local run's. The shared palette is a tree reduction: each task sums the histograms of a chunk of files,
  sums are merged eight at a time on the workers, and only the final :class:`qfast.ColorHistogram` comes back.
- **One image larger than memory** (a ``dask.array`` of shape (H, W) or (H, W, C), uint8): :func:`quantize_uniform`,
  :func:`uniform_indices` and :func:`quantize_mu_law` are elementwise (per channel), so they run blockwise through
  ``map_blocks`` and equal the in-memory result bit for bit. :func:`kmeans_palette` sums the blocks' histograms
  (the palette of the whole image, bit for bit) and :func:`remap` maps every block onto a palette: exact nearest
  colour, or Bayer ordered dithering whose pattern follows the image's global coordinates (each block is remapped
  with its phase), so the result equals the in-memory one bit for bit. Error diffusion (Floyd-Steinberg, Atkinson)
  carries each pixel's error to the pixels right of and below it across the whole image, a sequential dependency
  blocks cannot reproduce: :func:`remap` refuses it (compute it in memory, or dither each block independently with
  ``map_blocks(qfast.remap, ...)`` and accept seams at block edges).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

import numpy as np

from . import batch as _batch

#: Fan-in of the histogram tree reduction: how many partial sums one merge task takes.
SPLIT_EVERY = 8


def _require() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "qfast.dask needs Dask: pip install 'dask[array,distributed]' (or the checkout's '.[dask]' extra)"
        ) from None
    return distributed


def connect(address: str, timeout: float = 3.0) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address`` (``tcp://host:8786``), or a clear error within
    ``timeout`` seconds.

    Raises:
        ImportError: Dask is not installed.
        OSError: no scheduler answers at ``address`` within ``timeout`` seconds.
    """
    distributed = _require()
    try:
        return distributed.Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise OSError(
            f"no Dask scheduler answers at {address} within {timeout:g} s (start one with 'dask scheduler' and "
            f"workers with 'dask worker {address}'): {type(e).__name__}: {e}"
        ) from None


class DaskEngine:
    """Runs :mod:`qfast.batch`'s tasks on a ``distributed.Client``'s cluster: several files per Dask task (at most
    ``files_per_task``, fewer when there are few files per worker), at most ``window`` tasks in flight (default: two
    per worker thread), so the client holds only a window of futures however many files there are.

    Why several files a task: each Dask task costs the scheduler, the worker and the client messages and bookkeeping
    (milliseconds of CPU on the same cores as the work, where the cluster is one machine); a file's work is tens of
    milliseconds, so one file a task spent a third of the CPU on Dask. A worker lost on a task fails its files.

    Example:
        >>> from distributed import Client, LocalCluster  # or Client("tcp://scheduler:8786") for a real cluster
        >>> cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, host="127.0.0.1")
        >>> client = Client(cluster)
        >>> report = qfast.batch.run("encode", [qfast.samples.path()], "qfz", client=client, quiet=True, max_error=2)
        >>> report.failed, report.ok
        (0, 1)
        >>> client.close(); cluster.close()
    """

    def __init__(self, client: Any, window: Optional[int] = None, files_per_task: int = 8) -> None:
        _require()
        if not isinstance(files_per_task, int) or isinstance(files_per_task, bool) or files_per_task < 1:
            raise ValueError(f"files_per_task: expected an int >= 1, got {files_per_task!r}")
        self.client = client
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
        self.workers = max(1, threads)
        self.window = window or 2 * self.workers
        self.files_per_task = files_per_task
        # One compute thread per task, as in the local pool: a worker runs as many tasks at once as it has threads.
        # (Also in workers that have run qfast before: their pool is replaced.)
        client.run(_batch._init_worker, 1)

    def map_unordered(self, fn: Callable[..., Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Runs ``fn(item)`` on the cluster for every item; yields ``(item, result)`` as their tasks finish. An item
        whose call raises yields a failed result (:class:`qfast.batch.Lost`), and a task lost with its worker one
        for each of its items, rather than stopping the rest."""
        from itertools import islice

        from distributed import as_completed

        per_task = _batch._items_per_task(self.files_per_task, items, self.workers)
        todo = iter(items)
        keyed: dict[str, list[Any]] = {}
        # Results come back with the completion notices, in batches (no round trip per task); a task that raised
        # comes back as its exception.
        ac = as_completed([], with_results=True, raise_errors=False)

        def submit() -> bool:
            chunk = list(islice(todo, per_task))
            if not chunk:
                return False
            f = self.client.submit(_batch._run_chunk, fn, chunk, pure=False)
            keyed[f.key] = chunk
            ac.add(f)
            return True

        for _ in range(self.window):
            if not submit():
                break
        for f, res in ac:
            chunk = keyed.pop(f.key)
            if f.status != "finished":  # a lost task (its worker killed, say): each of its items failed
                exc = res[1] if isinstance(res, tuple) and len(res) == 3 else res  # (type, value, traceback)
                lost = _batch.Lost(f"{type(exc).__name__}: {exc}")
                results = [lost] * len(chunk)
            else:
                results = res
            f.release()
            yield from zip(chunk, results)
            submit()

    def sum_histograms(self, chunks: list[list[str]]) -> tuple[Any, list[tuple[str, str]]]:
        """The sum of the histograms of chunks of image files: one task per chunk, then merges of
        :data:`SPLIT_EVERY` partial sums at a time on the workers (a tree), and the root gathered."""
        from .palette import ColorHistogram

        if not chunks:
            return ColorHistogram(), []
        level = self.client.map(_batch.histogram_task, chunks, pure=False)
        while len(level) > 1:
            level = [
                self.client.submit(_merge, *level[i : i + SPLIT_EVERY], pure=False)
                for i in range(0, len(level), SPLIT_EVERY)
            ]
        return level[0].result()


def _merge(*parts: tuple[Any, list[tuple[str, str]]]) -> tuple[Any, list[tuple[str, str]]]:
    """Merges partial sums of the histogram reduction: (histogram, errors) pairs."""
    total = _sum(*(h for h, _ in parts))
    errors = [e for _, errs in parts for e in errs]
    return total, errors


# ---------------------------------------------------------------- dask.array


def _as_dask(image: Any) -> Any:
    import dask.array as da

    arr = image if isinstance(image, da.Array) else da.from_array(np.asarray(image))
    if arr.dtype != np.uint8:
        raise TypeError(f"image: expected uint8, got {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        raise ValueError(f"image: expected shape (H, W) or (H, W, 1..4), got {arr.shape}")
    if arr.ndim == 3 and len(arr.chunks[2]) > 1:
        arr = arr.rechunk({2: -1})  # the per-channel work needs every channel of a pixel in its block
    return arr


def _elementwise(image: Any, fn: Callable[[np.ndarray], np.ndarray]) -> Any:
    arr = _as_dask(image)
    return arr.map_blocks(lambda b: fn(np.ascontiguousarray(b)), dtype=np.uint8)


def quantize_uniform(image: Any, levels: Any = None, *, bits: Any = None, reconstruction: str = "midpoint") -> Any:
    """:func:`qfast.quantize_uniform` of a ``dask.array`` (lazy, blockwise, equal to the in-memory result).

    Raises:
        TypeError, ValueError: as :func:`qfast.quantize_uniform` (checked on a one-pixel probe before any block).
    """
    from .quantize import quantize_uniform as q

    arr = _as_dask(image)
    q(np.zeros((1, 1) + arr.shape[2:], np.uint8), levels, bits=bits, reconstruction=reconstruction)
    return _elementwise(arr, lambda b: q(b, levels, bits=bits, reconstruction=reconstruction))


def uniform_indices(image: Any, levels: Any = None, *, bits: Any = None) -> Any:
    """:func:`qfast.uniform_indices` of a ``dask.array`` (lazy, blockwise, equal to the in-memory result)."""
    from .quantize import uniform_indices as q

    arr = _as_dask(image)
    q(np.zeros((1, 1) + arr.shape[2:], np.uint8), levels, bits=bits)
    return _elementwise(arr, lambda b: q(b, levels, bits=bits))


def quantize_mu_law(image: Any, levels: Any = None, *, bits: Any = None, mu: float = 255.0) -> Any:
    """The reconstruction of :func:`qfast.quantize_mu_law` of a ``dask.array`` (its table comes from the formula,
    not the data, so blocks give the in-memory result)."""
    from .quantize import quantize_mu_law as q

    arr = _as_dask(image)
    q(np.zeros((1, 1) + arr.shape[2:], np.uint8), levels, bits=bits, mu=mu)
    return _elementwise(arr, lambda b: q(b, levels, bits=bits, mu=mu).image())


def _block_histogram(block: np.ndarray) -> Any:
    from .palette import ColorHistogram

    return ColorHistogram(np.ascontiguousarray(block))


def _sum(*hs: Any) -> Any:
    from .palette import ColorHistogram

    return ColorHistogram.sum(hs)


def histogram(image: Any) -> Any:
    """The :class:`qfast.ColorHistogram` of a ``dask.array`` image: one per block, summed in a tree of
    :data:`SPLIT_EVERY`-way merges (computed now, on the current Dask scheduler)."""
    import dask

    arr = _as_dask(image)
    level = [dask.delayed(_block_histogram)(b) for b in arr.to_delayed().ravel()]
    while len(level) > 1:
        level = [dask.delayed(_sum)(*level[i : i + SPLIT_EVERY]) for i in range(0, len(level), SPLIT_EVERY)]
    return level[0].compute()


def kmeans_palette(image: Any, k: int, **options: Any) -> np.ndarray:
    """:func:`qfast.kmeans_palette` of a ``dask.array`` image, through its histogram: the in-memory palette, bit for
    bit, without the image ever in memory. Options as :func:`qfast.kmeans_palette`."""
    from .palette import kmeans_palette as km

    return km(histogram(image), k, **options)


_BAYER = {"bayer4": 4, "bayer8": 8}


def remap(image: Any, palette: Any, *, dither: str = "none", color_space: str = "rgb") -> Any:
    """:func:`qfast.remap` of a ``dask.array`` image: lazy (H, W) uint8 indices, blockwise, equal to the in-memory
    result bit for bit. ``dither`` is ``"none"``, ``"bayer4"`` or ``"bayer8"`` (the pattern's phase follows each
    block's global position).

    Raises:
        ValueError: error diffusion (``"floyd-steinberg"``, ``"atkinson"``), which blocks cannot reproduce; a bad
            palette or colour space (as :func:`qfast.remap`).
    """
    from .palette import remap as rm

    arr = _as_dask(image)
    if dither not in ("none", *_BAYER):
        raise ValueError(
            f"dither: {dither!r} diffuses each pixel's error across the whole image, which blocks cannot reproduce; "
            "use 'none', 'bayer4' or 'bayer8' (or remap in memory)"
        )
    pal = np.ascontiguousarray(np.asarray(palette))
    rm(np.zeros((1, 1) + arr.shape[2:], np.uint8), pal, dither=dither, color_space=color_space)
    n = _BAYER.get(dither, 1)

    def block(b: np.ndarray, block_info: Any = None) -> np.ndarray:
        (y0, _), (x0, _) = block_info[0]["array-location"][:2]
        py, px = y0 % n, x0 % n
        if py or px:
            # Pad above and left so the pattern's phase at this block's first pixel is its global phase.
            pad = [(py, 0), (px, 0)] + [(0, 0)] * (b.ndim - 2)
            return np.ascontiguousarray(
                rm(np.pad(b, pad, mode="edge"), pal, dither=dither, color_space=color_space)[py:, px:]
            )
        return rm(np.ascontiguousarray(b), pal, dither=dither, color_space=color_space)

    if arr.ndim == 3:
        return arr.map_blocks(block, dtype=np.uint8, drop_axis=2)
    return arr.map_blocks(block, dtype=np.uint8)
