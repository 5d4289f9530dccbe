"""Many files on one machine: the single-file commands (``quantize``, ``palette``, ``encode``, ``decode``) over
folders, globs and lists of files, in a process pool, resumable, one bad file never stopping the rest.

The work of each file is :func:`process` (which runs the same function as the single-file command,
:mod:`qfast._ops`), in a worker process that reads its own file: the parent sends paths and options (a few hundred
bytes) and gets back a :class:`FileResult`, never pixels. Memory is bounded by the workers: each holds one image and
its outputs at a time, and at most two tasks per worker are in flight.

- **Inputs**: files, folders (walked recursively, taking the files whose extension the command reads: images, or
  ``.qfz`` for ``decode``; hidden files and ``OUTDIR`` are left out) and glob patterns (``**`` included). Files named
  or matched are taken whatever their extension: a non-image among them is a failed file, not a stopped batch.
- **Outputs** mirror each source's tree under ``out_dir`` (a folder's files keep their path below the folder, a
  glob's their path below its first wildcard, a file its name), with the command's extension (or ``format``).
  Two inputs with the same output are refused before any work, naming both.
- **Resumable**: an output at least as new as its input is skipped (``force=True`` redoes it). Outputs are written to
  a temporary name in the same folder and renamed, so an interrupted run (Ctrl-C, a killed process) leaves no
  partial output, and the next run continues where it stopped. A killed process may leave a hidden
  ``.NAME.*.tmp`` file; it is never read as an output.
- **Workers**: ``workers`` processes (default: the core count), each with one compute thread (``RAYON_NUM_THREADS=1``
  in the worker), so N workers use N cores without oversubscribing; ``workers=0`` runs in this process (for
  debugging; the Rust kernels then use every core). A worker that dies (killed, out of memory) costs only its file:
  the files that were in flight are retried one at a time, and the one that kills its worker again is failed.
- **Shared palette**: ``qfast batch palette --shared K`` (``shared=K``) sums the colour histograms of all inputs
  (:class:`qfast.ColorHistogram`, one per file; each worker sums a chunk of files, this process the chunks' sums,
  each with a :class:`qfast.palette.HistogramSum`, whose memory does not grow with the number of files), runs
  k-means on the sum
  (the palette :func:`qfast.kmeans_palette` of the list of all images would give) and maps every file onto it.

:func:`run` adds the manifest (``out_dir/qfast-batch.jsonl`` or ``.csv``: one line per file as it finishes), a
progress bar (tqdm on a terminal, a plain line every few seconds otherwise) and the summary; :func:`iter_results`
yields the results as they finish, for pipelines of one's own. :mod:`qfast.dask` runs the same tasks on a Dask
cluster (``run(..., client=client)``).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Union

import numpy as np

from ._io import CliError
from ._ops import DEFAULT_SUFFIX, FORMATS, OPS

#: The commands a batch runs.
COMMANDS = tuple(DEFAULT_SUFFIX)
#: Extensions a folder walk takes for the commands that read images.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm", ".pnm", ".tga"}
)
#: The manifest's name in the output folder, without its extension.
MANIFEST_NAME = "qfast-batch"
#: At most this many files per task of the shared palette's histogram reduction: few enough that a worker's sum
#: stays a short list (at most 16 images' colours, tens of MB; never the dense table), many enough that the
#: histograms sent back are few (one pickled histogram, a few MB, per 16 files).
CHUNK_FILES = 16
#: Manifest formats.
MANIFEST_FORMATS = ("jsonl", "csv")

Source = Union[str, "os.PathLike[str]"]


class BatchError(ValueError):
    """A batch that cannot start: no inputs, two inputs with one output, a bad option. Raised before any work."""


@dataclass(frozen=True)
class Task:
    """One file's work: its input and output paths (strings, so a task pickles in a few hundred bytes)."""

    input: str
    output: str


@dataclass
class FileResult:
    """What happened to one file: one line of the manifest.

    Attributes:
        input, output: the paths.
        status: ``"ok"``, ``"skipped"`` (the output was up to date), ``"larger"`` (palette ``skip_if_larger``: not
            written, ``bytes_out`` is the size it would have had; a later run tries it again) or ``"failed"``.
        error: why it failed (None otherwise).
        bytes_in, bytes_out: file sizes (None where unknown).
        bpp: bits per pixel of the output file.
        psnr, ssim: the output against the input where they apply (quantize, palette, encode: decoded without the
            corrector; None for decode, sweeps, skipped files, or with ``metrics=False``).
        ms: milliseconds the file took in its worker.
    """

    input: str
    output: str
    status: str
    error: Optional[str] = None
    bytes_in: Optional[int] = None
    bytes_out: Optional[int] = None
    bpp: Optional[float] = None
    psnr: Optional[float] = None
    ssim: Optional[float] = None
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (the manifest's line): all plain values, so no deep copy (``asdict``) is needed."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class BatchReport:
    """The outcome of :func:`run`: counts and totals (not every file's result: those are in the manifest), and the
    failures.

    Attributes:
        command, out_dir, manifest: what ran, where, and the manifest file (None if none was written).
        total, ok, skipped, larger, failed: file counts (``larger``: not written, see :class:`FileResult`).
        bytes_in, bytes_out: total sizes of the files processed (ok).
        seconds: wall time of the whole run.
        psnr_mean: the mean PSNR of the files that have one (None if none).
        failures: the failed files' results.
        palette: the shared palette, (K, 3) uint8, with ``shared=K`` (else None).
    """

    command: str
    out_dir: str
    manifest: Optional[str] = None
    total: int = 0
    ok: int = 0
    skipped: int = 0
    larger: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    psnr_mean: Optional[float] = None
    failures: list[FileResult] = field(default_factory=list)
    palette: Optional[np.ndarray] = field(default=None, repr=False)
    _psnr_sum: float = field(default=0.0, repr=False)
    _psnr_n: int = field(default=0, repr=False)

    @property
    def exit_code(self) -> int:
        """0 when no file failed, else 1 (what ``qfast batch`` exits with)."""
        return 1 if self.failed else 0

    def add(self, r: FileResult) -> None:
        """Counts one file's result."""
        self.total += 1
        if r.status == "ok":
            self.ok += 1
            self.bytes_in += r.bytes_in or 0
            self.bytes_out += r.bytes_out or 0
            if r.psnr is not None and np.isfinite(r.psnr):
                self._psnr_sum += r.psnr
                self._psnr_n += 1
                self.psnr_mean = self._psnr_sum / self._psnr_n
        elif r.status == "skipped":
            self.skipped += 1
        elif r.status == "larger":
            self.larger += 1
        else:
            self.failed += 1
            self.failures.append(r)

    def summary(self) -> str:
        """A small table: counts, sizes, rate, and the first failures with their errors."""
        rate = self.ok / self.seconds if self.seconds > 0 else 0.0
        rows = [
            ("files", f"{self.total}"),
            ("ok", f"{self.ok}"),
            ("skipped (up to date)", f"{self.skipped}"),
            *([("not written (larger)", f"{self.larger}")] if self.larger else []),
            ("failed", f"{self.failed}"),
            ("MB in -> out", f"{self.bytes_in / 1e6:.2f} -> {self.bytes_out / 1e6:.2f}"),
            ("mean PSNR (dB)", "-" if self.psnr_mean is None else f"{self.psnr_mean:.2f}"),
            ("time", f"{self.seconds:.1f} s ({rate:.1f} files/s)"),
        ]
        if self.manifest:
            rows.append(("manifest", self.manifest))
        w = max(len(k) for k, _ in rows)
        lines = [f"qfast batch {self.command}"] + [f"  {k:<{w}}  {v}" for k, v in rows]
        for r in self.failures[:10]:
            err = r.error or ""
            lines.append(f"  FAILED {err}" if err.startswith(r.input) else f"  FAILED {r.input}: {err}")
        if len(self.failures) > 10:
            lines.append(f"  ... and {len(self.failures) - 10} more failures (see the manifest)")
        return "\n".join(lines)


# ---------------------------------------------------------------- planning: inputs and outputs


def _has_magic(s: str) -> bool:
    return glob.has_magic(s)


def _walk(folder: Path, suffixes: frozenset[str], exclude: Optional[Path]) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        r = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _is_within(r / d, exclude))
        for f in sorted(files):
            if not f.startswith(".") and Path(f).suffix.lower() in suffixes:
                yield r / f


def _is_within(p: Path, folder: Optional[Path]) -> bool:
    if folder is None:
        return False
    try:
        p.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def collect_inputs(
    command: str, sources: Iterable[Source], out_dir: Optional[Source] = None
) -> list[tuple[Path, Path]]:
    """The input files of ``sources`` and each one's path relative to its source (what its output mirrors).

    Files under ``out_dir`` are never inputs (so an output folder inside a source folder is never re-read).

    Raises:
        BatchError: a source that is neither a file, a folder nor a pattern that matches something; no inputs.
    """
    if command not in COMMANDS:
        raise BatchError(f"command: expected one of {', '.join(COMMANDS)}, got {command!r}")
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    suffixes = frozenset({".qfz"}) if command == "decode" else IMAGE_SUFFIXES
    out = Path(out_dir).resolve() if out_dir is not None else None
    found: list[tuple[Path, Path]] = []
    for s in sources:
        text = os.fspath(s)
        p = Path(text)
        if p.is_dir():
            found += [(f, f.relative_to(p)) for f in _walk(p, suffixes, out)]
        elif p.is_file():
            if not _is_within(p, out):
                found.append((p, Path(p.name)))
        elif _has_magic(text):
            parts = Path(text).parts
            i = next(i for i, part in enumerate(parts) if _has_magic(part))
            base = Path(*parts[:i]) if i else Path(".")
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            files = [m for m in matches if m.is_file() and not _is_within(m, out)]
            if not matches:
                raise BatchError(f"{text}: no file matches")
            found += [(m, m.relative_to(base)) for m in files]
        else:
            raise BatchError(f"{text}: no such file or folder")
    if not found:
        raise BatchError("no input files (folders are searched for " + ", ".join(sorted(suffixes)) + ")")
    return found


def output_suffix(command: str, format: Optional[str] = None) -> str:
    """The extension of the outputs: the command's (.png, .qfz), or ``format`` (e.g. ``"gif"``, ``"webp"``)."""
    if format is None:
        return DEFAULT_SUFFIX[command]
    f = str(format).lower().lstrip(".")
    if f not in FORMATS[command]:
        raise BatchError(f"format: {command} writes {', '.join(FORMATS[command])}, got {format!r}")
    return "." + f


def plan(command: str, sources: Iterable[Source], out_dir: Source, *, format: Optional[str] = None) -> list[Task]:
    """The tasks of a batch: each input with its output under ``out_dir``.

    Raises:
        BatchError: as :func:`collect_inputs`; two inputs that would write the same output (both named); an input
            that is its own output.
    """
    suffix = output_suffix(command, format)
    out = Path(out_dir)
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    for src, rel in collect_inputs(command, sources, out_dir):
        dst = out / rel.with_suffix(suffix)
        key = os.path.normcase(os.path.abspath(dst))
        first = seen.get(key)
        if first is not None:
            if os.path.samefile(first, src):
                continue  # the same file named twice (a folder and a pattern): one task
            raise BatchError(f"{first} and {src} would both write {dst}")
        seen[key] = str(src)
        tasks.append(Task(str(src), str(dst)))
    return tasks


def is_up_to_date(task: Task) -> bool:
    """Whether the output exists and is at least as new as the input (then a run without ``force`` skips it)."""
    try:
        return os.stat(task.output).st_mtime_ns >= os.stat(task.input).st_mtime_ns
    except OSError:
        return False


# ---------------------------------------------------------------- the work of one file


def process(command: str, task: Task, options: dict[str, Any], force: bool = False, metrics: bool = True) -> FileResult:
    """Runs ``command`` on one file (the single-file command's own function) and says how it went. Never raises for
    a bad file: every error becomes a ``"failed"`` result with its message. This is the task the process pool and
    the Dask workers run.

    Args:
        command: ``"quantize"``, ``"palette"``, ``"encode"`` or ``"decode"``.
        task: the input and output paths.
        options: the command's options (keywords of the single-file command, e.g. ``{"bits": 4}``).
        force: overwrite an existing output.
        metrics: measure PSNR and SSIM against the input (where they apply).

    Returns:
        A :class:`FileResult`.
    """
    t0 = time.perf_counter()
    try:
        Path(task.output).parent.mkdir(parents=True, exist_ok=True)
        info = OPS[command](task.input, task.output, force=force, metrics=metrics, **options)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the batch
        msg = str(e) if isinstance(e, CliError) else f"{type(e).__name__}: {e}"
        return FileResult(task.input, task.output, "failed", msg, ms=(time.perf_counter() - t0) * 1e3)
    ms = (time.perf_counter() - t0) * 1e3
    bpp = 8 * info.bytes_out / info.pixels if info.pixels else None
    if not info.written:
        return FileResult(task.input, task.output, "larger", None, info.bytes_in, info.bytes_out, bpp, ms=ms)
    return FileResult(task.input, task.output, "ok", None, info.bytes_in, info.bytes_out, bpp, info.psnr, info.ssim, ms)


def skipped(task: Task) -> FileResult:
    """The result of a file whose output is up to date."""
    try:
        size_in, size_out = os.path.getsize(task.input), os.path.getsize(task.output)
    except OSError:
        size_in = size_out = None
    return FileResult(task.input, task.output, "skipped", bytes_in=size_in, bytes_out=size_out)


def histogram_task(paths: list[str]) -> tuple[Any, list[tuple[str, str]]]:
    """The summed colour histogram of image files (read one at a time), and the files that could not be read with
    their errors. A task of the shared palette's reduction: it returns a :class:`qfast.ColorHistogram` (pickled as
    compact bytes), never pixels."""
    from ._io import read_image
    from .palette import ColorHistogram, HistogramSum

    # Lists only: a chunk's sum is bounded by its few files, and it travels as a list.
    acc, errors = HistogramSum(dense_after=None), []
    for p in paths:
        try:
            acc.add(ColorHistogram(read_image(p)))
        except Exception as e:  # noqa: BLE001 - recorded, not fatal
            errors.append((p, str(e) if isinstance(e, CliError) else f"{type(e).__name__}: {e}"))
    return acc.total(), errors


# ---------------------------------------------------------------- engines: where the tasks run


class Engine(Protocol):
    """Runs a function over items, yielding ``(item, result)`` pairs as they finish (any order)."""

    def map_unordered(self, fn: Callable[..., Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]: ...

    def sum_histograms(self, chunks: list[list[str]]) -> tuple[Any, list[tuple[str, str]]]:
        """The sum of the chunks' histograms (a :class:`qfast.ColorHistogram`, or a
        :class:`qfast.palette.HistogramSum` that :func:`qfast.kmeans_palette` takes as it is), and the files that
        failed."""
        ...


def _init_worker(threads: int) -> None:
    """Gives this worker process ``threads`` compute threads: the Rust core's pool (built now, or rebuilt where the
    process has used qfast before, as a Dask worker may have) and, unless set, OpenMP's."""
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    from . import _core

    _core.set_thread_count(threads)


def default_workers() -> int:
    """The default worker count: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class LocalEngine:
    """A process pool on this machine (``workers`` processes, one compute thread each); ``workers=0`` runs in this
    process.

    Each task carries up to ``files_per_task`` files (fewer when there are few files per worker): every task costs
    this process pickling, queueing and a wake-up, about a millisecond of a core the workers need, where a file's
    work is a few tens of milliseconds."""

    def __init__(self, workers: Optional[int] = None, files_per_task: int = 4) -> None:
        w = default_workers() if workers is None else workers
        if not isinstance(w, int) or isinstance(w, bool) or w < 0:
            raise BatchError(f"workers: expected an int >= 0, got {workers!r}")
        if not isinstance(files_per_task, int) or isinstance(files_per_task, bool) or files_per_task < 1:
            raise BatchError(f"files_per_task: expected an int >= 1, got {files_per_task!r}")
        self.workers = w
        self.files_per_task = files_per_task

    def _context(self) -> Any:
        import multiprocessing as mp

        methods = mp.get_all_start_methods()
        # Not fork: a forked child inherits the parent's threads' locks (tqdm's, the Rust pool's) half-held.
        ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            # The server imports these once; each worker forked from it then starts in milliseconds.
            ctx.set_forkserver_preload(["qfast.batch", "qfast._ops", "qfast.palette", "qfast.quantize", "PIL.Image"])
        return ctx

    def warm(self) -> None:
        """Starts the fork server now, without waiting for it: its interpreter and imports (a few hundred ms before
        the first worker can exist) then overlap this process's planning and option check."""
        if self.workers > 0 and self._context().get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def _pool(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        ctx = self._context()
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker, initargs=(1,))

    def map_unordered(self, fn: Callable[..., Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Runs ``fn(item)`` for every item, several items a task, at most two tasks per worker in flight; yields
        ``(item, result)`` as they finish. An item whose call raises gets a :class:`Lost` result; the items of a
        task whose worker died are retried one at a time, so only the one that kills its worker is lost."""
        return self._map(fn, items, _items_per_task(self.files_per_task, items, self.workers))

    def _map(self, fn: Callable[..., Any], items: Iterable[Any], per_task: int) -> Iterator[tuple[Any, Any]]:
        if self.workers == 0:
            for item in items:
                yield item, fn(item)
            return
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool
        from itertools import islice

        todo = iter(items)
        suspects: deque[list[Any]] = deque()  # in flight when a worker died: retried one at a time
        unsent: deque[list[Any]] = deque()  # refused by a pool that broke before they were submitted
        pool = self._pool()
        running: dict[Any, list[Any]] = {}
        try:
            while True:
                window = 1 if suspects else 2 * self.workers
                refused = False
                while len(running) < window:
                    source = suspects if suspects else unsent
                    chunk = source.popleft() if source else list(islice(todo, per_task))
                    if not chunk:
                        break
                    try:
                        running[pool.submit(_run_chunk, fn, chunk)] = chunk
                    except BrokenProcessPool:  # a worker died since the last wait: this pool takes no more
                        source.appendleft(chunk)
                        refused = True
                        break
                if not running and not refused:
                    return
                # A refused submission with nothing in flight goes straight to the new pool below.
                done = wait(running, return_when=FIRST_COMPLETED)[0] if running else set()
                broken = False
                for f in done:
                    chunk = running.pop(f)
                    try:
                        results = f.result()
                    except BrokenProcessPool:
                        broken = True
                        if window == 1:
                            yield chunk[0], Lost()
                        else:
                            suspects.extend([item] for item in chunk)
                        continue
                    except Exception as e:  # noqa: BLE001 - the results did not pickle
                        results = [Lost(f"{type(e).__name__}: {e}")] * len(chunk)
                    yield from zip(chunk, results)
                if broken or refused:
                    suspects.extend([item] for chunk in running.values() for item in chunk)
                    running.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def sum_histograms(self, chunks: list[list[str]]) -> tuple[Any, list[tuple[str, str]]]:
        """Sums the histograms of chunks of files: each worker sums its chunk, this process the chunks' sums into
        the dense table from the first chunk on (a :class:`qfast.palette.HistogramSum` with ``dense_after=0``), and
        the palette is clustered from the table: this process's memory is the same for 10 images or a million."""
        from .palette import HistogramSum

        acc, errors = HistogramSum(dense_after=0), []
        for chunk, res in self._map(histogram_task, chunks, 1):
            if isinstance(res, Lost):
                errors += [(p, res.message) for p in chunk]
                continue
            h, errs = res
            acc.add(h)
            errors += errs
        return acc, errors


def _items_per_task(most: int, items: Iterable[Any], workers: int) -> int:
    """How many items an engine's task takes: at most ``most``, fewer where ``items`` (when it has a length) would
    give fewer than four tasks per worker, so the ends stay balanced."""
    if not hasattr(items, "__len__"):
        return most
    return max(1, min(most, len(items) // (4 * max(1, workers))))  # type: ignore[arg-type]


def _run_chunk(fn: Callable[..., Any], chunk: list[Any]) -> list[Any]:
    """One task of an engine: ``fn`` on each item of ``chunk`` in turn, an item whose call raises giving a
    :class:`Lost` result."""
    out = []
    for item in chunk:
        try:
            out.append(fn(item))
        except Exception as e:  # noqa: BLE001 - one item's failure is that item's result
            out.append(Lost(f"{type(e).__name__}: {e}"))
    return out


class Lost:
    """The result of a task whose worker died or that the engine lost: ``message`` says why."""

    def __init__(self, message: str = "the worker process died on this file (killed, or out of memory)") -> None:
        self.message = message


_END = object()


class _Call:
    """A picklable ``process(command, task, options, force, metrics)`` of one argument, for the engines."""

    def __init__(self, command: str, options: dict[str, Any], force: bool, metrics: bool) -> None:
        self.command, self.options, self.force, self.metrics = command, options, force, metrics
        self.all_inputs: list[str] = []
        self.palette: Optional[np.ndarray] = None

    def __getstate__(self) -> dict[str, Any]:
        # What a worker needs: not the list of every input.
        return {"command": self.command, "options": self.options, "force": self.force, "metrics": self.metrics}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __call__(self, task: Task) -> FileResult:
        return process(self.command, task, self.options, self.force, self.metrics)


# ---------------------------------------------------------------- options


_KMEANS_OPTIONS = ("method", "seed", "color_space")


def check_options(command: str, options: dict[str, Any], metrics: bool = True) -> None:
    """Runs the command on a tiny image in a temporary folder, so a bad option fails once, before any work, rather
    than once per file.

    Raises:
        BatchError: an unknown option, or one the command rejects (with its message).
    """
    import inspect
    import tempfile

    if command not in OPS:
        raise BatchError(f"command: expected one of {', '.join(COMMANDS)}, got {command!r}")
    fn = OPS[command]
    allowed = set(inspect.signature(fn).parameters) - {"src", "dst", "force", "metrics"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise BatchError(f"{command}: unknown option(s) {', '.join(unknown)} (expected some of {sorted(allowed)})")
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="qfast-batch-check-") as d:
        src = Path(d) / "probe.png"
        Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3) * 1).save(src)
        if command == "decode":
            from .codec import encode

            (Path(d) / "probe.qfz").write_bytes(encode(np.asarray(Image.open(src)), max_error=0, corrector=None))
            src = Path(d) / "probe.qfz"
        suffix = ".gif" if command == "palette" and options.get("sweep") is not None else DEFAULT_SUFFIX[command]
        from .palette import QualityError

        try:
            fn(src, Path(d) / f"out{suffix}", metrics=False, **options)
        except QualityError:
            pass  # the probe's 64 pixels cannot reach the quality: not the options' fault
        except (TypeError, ValueError) as e:
            raise BatchError(str(e)) from e
        except (OSError, CliError):
            pass  # the probe's own file system (a full temporary folder): not the options' fault


def histogram(
    inputs: Iterable[Source], *, workers: Optional[int] = None, engine: Optional[Engine] = None
) -> tuple[Any, list[tuple[str, str]]]:
    """The summed colour histogram of many image files, computed by the workers (each reads its own files and sends
    back one :class:`qfast.ColorHistogram` per chunk of files: no pixels travel).

    Keep it (``pickle``, or :meth:`qfast.ColorHistogram.to_bytes`) to try several palette sizes, or to add a new
    folder's histogram to it later, without reading the images again.

    Args:
        inputs: image files, folders or glob patterns (as :func:`run`).
        workers: processes (default: the cores); ignored when ``engine`` is given.
        engine: where the histograms are computed (:class:`LocalEngine`, or :class:`qfast.dask.DaskEngine`).

    Returns:
        The histogram, and the files that could not be read, with their errors.

    Raises:
        BatchError: no input files.

    Example:
        >>> photos = qfast.samples.path().parent  # a folder of images: the bundled photos
        >>> hist, bad = qfast.batch.histogram([photos], workers=2)
        >>> qfast.kmeans_palette(hist, 64).shape, bad
        ((64, 3), [])
    """
    from .palette import HistogramSum

    paths = sorted(str(p) for p, _ in collect_inputs("palette", inputs))
    hist, errors = _histogram_of(paths, engine or LocalEngine(workers))
    return (hist.total() if isinstance(hist, HistogramSum) else hist), errors


def shared_palette(
    inputs: Iterable[Source],
    k: int,
    *,
    workers: Optional[int] = None,
    engine: Optional[Engine] = None,
    method: str = "kmeans",
    seed: int = 0,
    color_space: str = "rgb",
    max_iter: Optional[int] = None,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """One palette of ``k`` colours for many image files: the sum of their colour histograms (:func:`histogram`),
    then k-means on it.

    The palette equals ``qfast.kmeans_palette(list_of_all_images, k, ...)`` bit for bit, but no more than one image
    per worker is in memory, and what travels between processes is one histogram per chunk of files.

    Args:
        inputs: image files, folders or glob patterns (as :func:`run`).
        k: palette size, 1..256.
        workers: processes (default: the cores); ignored when ``engine`` is given.
        engine: where the histograms are computed (:class:`LocalEngine`, or :class:`qfast.dask.DaskEngine`).
        method, seed, color_space, max_iter: as for :func:`qfast.kmeans_palette`.

    Returns:
        The palette, uint8 (n, 3), and the files that could not be read, with their errors.

    Raises:
        BatchError: no input files, or none of them readable.
        ValueError: k or an option out of range (as :func:`qfast.kmeans_palette`).

    Example:
        >>> pal, bad = qfast.batch.shared_palette([qfast.samples.path().parent], 64, workers=2)
        >>> pal.shape
        (64, 3)
    """
    paths = sorted(str(p) for p, _ in collect_inputs("palette", inputs))
    return _palette_of(paths, k, engine or LocalEngine(workers), method, seed, color_space, max_iter)


def _chunks(paths: list[str], parts: int) -> list[list[str]]:
    size = max(1, -(-len(paths) // max(1, parts)))
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def _palette_of(
    paths: list[str],
    k: int,
    engine: Any,
    method: str = "kmeans",
    seed: int = 0,
    color_space: str = "rgb",
    max_iter: Optional[int] = None,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    from .palette import HistogramSum, kmeans_palette

    hist, errors = _histogram_of(paths, engine)
    if (hist.pixels if isinstance(hist, HistogramSum) else hist.total) == 0:
        raise BatchError("no readable image among the inputs to build the shared palette from")
    return kmeans_palette(hist, k, method=method, seed=seed, color_space=color_space, max_iter=max_iter), errors


def _histogram_of(paths: list[str], engine: Any) -> tuple[Any, list[tuple[str, str]]]:
    # Several chunks per worker, so a slow file does not hold up the end, and at most CHUNK_FILES files each, so a
    # worker lost on a chunk costs little; few enough that the sums are cheap.
    parts = max(4 * max(1, getattr(engine, "workers", 1) or 1), -(-len(paths) // CHUNK_FILES))
    return engine.sum_histograms(_chunks(paths, parts))


# ---------------------------------------------------------------- running


def iter_results(
    command: str,
    inputs: Iterable[Source],
    out_dir: Source,
    *,
    workers: Optional[int] = None,
    engine: Optional[Engine] = None,
    force: bool = False,
    format: Optional[str] = None,
    metrics: bool = True,
    shared: Optional[int] = None,
    **options: Any,
) -> Iterator[FileResult]:
    """Runs a batch and yields each file's :class:`FileResult` as it finishes (skipped files first).

    Arguments as for :func:`run` (no manifest, no progress). Planning and option errors raise :class:`BatchError`
    before any work; after that nothing raises for a bad file.

    Example:
        >>> photos = qfast.samples.path().parent  # a folder of images: the bundled photos
        >>> for r in qfast.batch.iter_results("quantize", [photos], "out", workers=2, bits=4):
        ...     if r.status == "failed":
        ...         print(r.input, r.error)
    """
    tasks, todo, eng, call = _prepare(
        command, inputs, out_dir, workers, engine, force, format, metrics, shared, options
    )
    for t in tasks:
        if t not in todo:
            yield skipped(t)
    yield from _execute(todo, eng, call, shared, options)


def _prepare(
    command: str,
    inputs: Iterable[Source],
    out_dir: Source,
    workers: Optional[int],
    engine: Optional[Engine],
    force: bool,
    format: Optional[str],
    metrics: bool,
    shared: Optional[int],
    options: dict[str, Any],
) -> tuple[list[Task], set[Task], Any, _Call]:
    eng = engine if engine is not None else LocalEngine(workers)
    if isinstance(eng, LocalEngine):
        eng.warm()
    if shared is not None:
        if command != "palette":
            raise BatchError(f"shared: only for the palette command, not {command}")
        if options.get("colors") is not None or options.get("sweep") is not None:
            raise BatchError("shared: give one of shared, colors or sweep")
        probe = {**options, "palette": [[0, 0, 0]]}
        from ._validate import as_int

        try:
            as_int(shared, "shared", 1, 256)
        except (TypeError, ValueError) as e:
            raise BatchError(str(e)) from e
        check_options(command, probe, metrics)
    else:
        check_options(command, options, metrics)
    tasks = plan(command, inputs, out_dir, format=format)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    todo = {t for t in tasks if force or not is_up_to_date(t)}
    # The outputs to write are missing or older than their inputs (or forced): overwriting them is the point.
    call = _Call(command, dict(options), True, metrics)
    call.all_inputs = sorted(t.input for t in tasks)
    return tasks, todo, eng, call


def _execute(
    todo: Iterable[Task], eng: Any, call: _Call, shared: Optional[int], options: dict[str, Any]
) -> Iterator[FileResult]:
    todo = sorted(todo, key=lambda t: t.input)
    if not todo:
        return
    if shared is not None:
        kw = {k: options[k] for k in _KMEANS_OPTIONS if k in options}
        # Every input of the batch (the skipped ones too), so a resumed run maps its files onto the palette of the
        # first run.
        pal, errors = _palette_of(call.all_inputs, shared, eng, **kw)
        bad = {p for p, _ in errors}
        by_input = {t.input: t for t in todo}
        for p, msg in errors:
            t = by_input.get(p)
            if t is not None:
                yield FileResult(t.input, t.output, "failed", msg)
        todo = [t for t in todo if t.input not in bad]
        call.options = {**options, "palette": pal}
        call.palette = pal
    for _task, res in eng.map_unordered(call, todo):
        if isinstance(res, Lost):
            yield FileResult(_task.input, _task.output, "failed", res.message)
        else:
            yield res


class _Progress:
    """tqdm on a terminal (where installed); otherwise a plain line every ``every`` seconds; nothing when quiet."""

    def __init__(self, total: int, quiet: bool, desc: str, stream: Any = None, every: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.failed, self.quiet, self.every = total, 0, 0, quiet, every
        self.t0 = self.last = time.monotonic()
        self.desc = desc
        self.bar = None
        if not quiet and getattr(self.stream, "isatty", lambda: False)():
            try:  # tqdm is optional (the dask and dashboard extras bring it): plain lines without it
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=desc, unit="file", file=self.stream, dynamic_ncols=True)

    def update(self, r: FileResult) -> None:
        self.done += 1
        self.failed += r.status == "failed"
        if self.bar is not None:
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            return
        now = time.monotonic()
        if not self.quiet and (now - self.last >= self.every):
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(
                f"{self.desc}: {self.done}/{self.total} files, {self.failed} failed, {rate:.1f} files/s, "
                f"about {left:.0f} s left",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Manifest:
    """The manifest, one line per file, written and flushed as each finishes (so an interrupted run keeps it)."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.f: io.TextIOBase = open(path, "w", newline="" if fmt == "csv" else None, encoding="utf-8")  # noqa: SIM115
        self.csv = None
        if fmt == "csv":
            self.csv = csv.DictWriter(self.f, fieldnames=[f.name for f in fields(FileResult)])
            self.csv.writeheader()

    def write(self, r: FileResult) -> None:
        d = r.to_dict()
        for k in ("bpp", "psnr", "ssim"):
            if d[k] is not None:
                d[k] = round(d[k], 4) if np.isfinite(d[k]) else None if k != "psnr" else "inf"
        d["ms"] = round(d["ms"], 2)
        if self.csv is not None:
            self.csv.writerow({k: "" if v is None else v for k, v in d.items()})
        else:
            self.f.write(json.dumps(d) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def run(
    command: str,
    inputs: Iterable[Source],
    out_dir: Source,
    *,
    workers: Optional[int] = None,
    client: Any = None,
    force: bool = False,
    format: Optional[str] = None,
    metrics: bool = True,
    manifest: Optional[str] = "jsonl",
    quiet: bool = False,
    progress_stream: Any = None,
    shared: Optional[int] = None,
    **options: Any,
) -> BatchReport:
    """Runs a single-file command over many files: the Python API of ``qfast batch``.

    Args:
        command: ``"quantize"``, ``"palette"``, ``"encode"`` or ``"decode"``.
        inputs: files, folders (walked recursively) or glob patterns; one or a list.
        out_dir: the output folder (made if missing); outputs mirror the sources' trees in it.
        workers: worker processes, >= 0 (default: the cores; 0 runs in this process).
        client: a ``distributed.Client``: run the tasks on its cluster instead (:mod:`qfast.dask`; same outputs and
            manifest). ``workers`` is then ignored.
        force: redo files whose output is up to date (else they are skipped).
        format: the outputs' format (``"png"``, ``"gif"``, ``"webp"``, ...), else the command's own.
        metrics: measure PSNR and SSIM of each output against its input (where they apply).
        manifest: ``"jsonl"`` (``out_dir/qfast-batch.jsonl``), ``"csv"`` or None (no manifest).
        quiet: no progress and no summary on the progress stream.
        progress_stream: where progress goes (default stderr): a tqdm bar on a terminal, else a line every 5 s.
        shared: palette only: one palette of this many colours for all inputs (see :func:`shared_palette`).
        **options: the command's options, as the single-file command's keywords: quantize ``levels``, ``bits``,
            ``method``, ``reconstruction``; palette ``colors``, ``sweep``, ``dither``, ``color_space``, ``method``,
            ``seed``, ``duration``; encode ``max_error``, ``levels``, ``target_bpp``, ``color``, ``subsample``,
            ``effort``, ``no_corrector``; decode ``no_correct``.

    Returns:
        A :class:`BatchReport` (``.exit_code`` is 1 if any file failed).

    Raises:
        BatchError: before any work: no inputs, two inputs with one output, an unknown or bad option.
        KeyboardInterrupt: on Ctrl-C, after the workers stop (no partial output is left; run again to continue).

    Example:
        >>> photos = qfast.samples.path().parent  # a folder of images: the bundled photos
        >>> report = qfast.batch.run("palette", [photos], "out", workers=2, quiet=True, shared=64, dither="bayer8")
        >>> report.failed
        0
    """
    if manifest is not None and manifest not in MANIFEST_FORMATS:
        raise BatchError(f"manifest: expected 'jsonl', 'csv' or None, got {manifest!r}")
    t0 = time.perf_counter()
    engine = None
    if client is not None:
        from .dask import DaskEngine

        engine = DaskEngine(client)
    tasks, todo, eng, call = _prepare(
        command, inputs, out_dir, workers, engine, force, format, metrics, shared, options
    )
    report = BatchReport(command, str(out_dir))
    man = None
    if manifest is not None:
        path = Path(out_dir) / f"{MANIFEST_NAME}.{manifest}"
        man = _Manifest(path, manifest)
        report.manifest = str(path)
    stream = progress_stream if progress_stream is not None else sys.stderr
    prog = _Progress(len(tasks), quiet, f"qfast batch {command}", stream)
    try:
        for t in tasks:
            if t not in todo:
                r = skipped(t)
                report.add(r)
                if man:
                    man.write(r)
                prog.update(r)
        for r in _execute(todo, eng, call, shared, options):
            report.add(r)
            if man:
                man.write(r)
            prog.update(r)
    finally:
        prog.close()
        if man:
            man.close()
        report.seconds = time.perf_counter() - t0
        report.palette = call.palette
    if not quiet:
        print(report.summary(), file=stream)
    return report
