"""Batch work, qfast next to what a user would write: images per second and ratios, and the shared palette's time and
peak memory.

Run from the repository root (one run, a few minutes on 2 cores):

    python benchmarks/batch.py
    python benchmarks/batch.py --commands quantize --limit 100     # quicker

The folder: Kodak (24) and ../shared/data/train (445), copied once to a temporary folder. For each command, every
contender reads each file, runs the same qfast call and writes a PNG into a fresh output folder:

- the plain loop a user would write: Pillow open, the qfast call, Pillow save, one file after another;
- that loop in a ``concurrent.futures.ProcessPoolExecutor`` with one process per core (``ex.map``, defaults);
- ``qfast.batch.run`` (what ``qfast batch`` runs) with 1 worker and with one per core, metrics off (the loops
  measure nothing) and manifest on;
- ``qfast.batch.run(client=...)`` on a ``distributed.LocalCluster`` with as many single-threaded worker processes
  (the cluster's start-up is not counted).

The shared palette (k = 64, where the palette search also runs an exact Lloyd step on the pixels): the histogram
reduction (``qfast.batch.shared_palette``, what ``qfast batch palette --shared`` runs, one worker per core) against
``qfast.kmeans_palette(list_of_images)``, each in a fresh process, on growing subsets and on every image twice: wall
time, and peak resident memory (sampled every 20 ms: the sum over the process and its workers, the parent's own peak,
and the largest worker's). The palettes must be identical.

The load average is printed with every timing: the machine is shared, so numbers move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

import qfast
from qfast import batch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

# The qfast call of each command, as a user's loop would make it (the same as qfast batch's).
COMMANDS = {
    "palette": ({"colors": 16}, lambda a: qfast.quantize_colors(a, 16).to_pil()),
    "quantize": ({"bits": 3}, lambda a: Image.fromarray(qfast.quantize_uniform(a, bits=3))),
}


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def make_folder(dst: Path, limit: int | None) -> list[Path]:
    files = sorted((DATA / "kodak").glob("*.png")) + sorted((DATA / "train").glob("*.png"))
    if not files:
        sys.exit(f"no images in {DATA}/kodak or {DATA}/train")
    files = files[:limit] if limit else files
    dst.mkdir(parents=True)
    out = []
    for f in files:
        p = dst / f"{f.parent.name}-{f.name}"
        shutil.copyfile(f, p)
        out.append(p)
    return out


# ---------------------------------------------------------------- the user's loop


def _user_work(args: tuple[str, str, str]) -> None:
    command, src, dst = args
    with Image.open(src) as im:
        a = np.asarray(im.convert("RGB"))
    COMMANDS[command][1](a).save(dst)


def plain_loop(command: str, files: list[Path], out: Path) -> float:
    out.mkdir()
    t = time.perf_counter()
    for f in files:
        _user_work((command, str(f), str(out / f.name)))
    return time.perf_counter() - t


def futures_pool(command: str, files: list[Path], out: Path, workers: int) -> float:
    out.mkdir()
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as ex:
        list(ex.map(_user_work, [(command, str(f), str(out / f.name)) for f in files]))
    return time.perf_counter() - t


def qfast_batch(command: str, folder: Path, out: Path, n: int, workers: int, client=None) -> float:
    t = time.perf_counter()
    r = batch.run(
        command, [folder], out, workers=workers, client=client, quiet=True, metrics=False, **COMMANDS[command][0]
    )
    dt = time.perf_counter() - t
    assert r.ok == n and r.failed == 0, r.summary()
    return dt


# ---------------------------------------------------------------- the shared palette, in fresh processes


class Sampler:
    """Samples this process and all its descendants every ``interval`` seconds (the pool's workers are the fork
    server's children, which getrusage does not see): the peak of the summed resident memory, the largest worker's,
    and the CPU time of every process seen (its last value; a process's last ``interval`` before it exits is missed).
    Each sample costs about a millisecond of this process's CPU: the contenders, where only CPU time is wanted, are
    sampled every 250 ms so that the sampling does not take a core's time from the work it measures."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        import threading

        import psutil

        self.me = psutil.Process()
        self.total = self.worker = 0
        self.cpu: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.cpu0 = sum(self.me.cpu_times()[:2])
        self.thread.start()

    def _run(self) -> None:
        import psutil

        while not self.stop.is_set():
            rss = []
            for p in self.me.children(recursive=True):
                try:
                    with p.oneshot():
                        rss.append(p.memory_info().rss)
                        self.cpu[p.pid] = sum(p.cpu_times()[:2])
                except psutil.Error:
                    pass
            self.total = max(self.total, self.me.memory_info().rss + sum(rss))
            self.worker = max([self.worker, *rss])
            self.stop.wait(self.interval)

    def close(self) -> tuple[float, float, float]:
        """Peak MiB in all, peak MiB of the largest worker, CPU seconds of the tree since the start."""
        self.stop.set()
        self.thread.join()
        cpu = sum(self.me.cpu_times()[:2]) - self.cpu0 + sum(self.cpu.values())
        return self.total / 2**20, self.worker / 2**20, cpu


def child(mode: str, folder: str, n: int, k: int, workers: int, out: str) -> None:
    files = sorted(Path(folder).glob("*.png"))[:n]
    mem = Sampler()
    t = time.perf_counter()
    if mode == "list":
        imgs = []
        for f in files:
            with Image.open(f) as im:
                imgs.append(np.asarray(im.convert("RGB")))
        pal = qfast.kmeans_palette(imgs, k)
    else:
        pal, bad = batch.shared_palette([str(f) for f in files], k, workers=workers)
        assert not bad
    dt = time.perf_counter() - t
    total, worker, _ = mem.close()
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, pal)
    res = {"seconds": dt, "rss_mib": rss_self, "total_mib": total, "worker_mib": worker}
    if mode != "list":
        # After the peaks are read: the sum as a list of colours (for its size) is the benchmark's, not the work's.
        hist, _ = batch.histogram([str(f) for f in files], workers=workers)
        res["hist_bytes"] = len(pickle.dumps(hist))
        res["colours"] = len(hist)
    print(json.dumps(res))


def run_child(mode: str, folder: Path, n: int, k: int, workers: int, tmp: Path) -> tuple[dict, np.ndarray]:
    out = tmp / f"pal-{mode}-{n}.npy"
    r = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(folder), str(n), str(k), str(workers), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1]), np.load(out)


def contender(how: str, command: str, folder: str, out: str, n: int, workers: int) -> None:
    """Runs one contender in this (fresh) process and prints its wall time (the start-up of the interpreter, and of
    the Dask cluster, not counted)."""
    files = sorted(Path(folder).glob("*.png"))[:n]
    cluster = client = None
    if how == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
        )
        client = Client(cluster)
    sampler = Sampler(0.25)
    if how == "loop":
        dt = plain_loop(command, files, Path(out))
    elif how == "pool":
        dt = futures_pool(command, files, Path(out), workers)
    else:
        dt = qfast_batch(command, Path(folder), Path(out), n, workers, client)
    _, _, cpu = sampler.close()
    if client is not None:
        client.close()
        cluster.close()
    print(json.dumps({"seconds": dt, "cpu": cpu}))


def run_contender(how: str, command: str, folder: Path, out: Path, n: int, workers: int) -> tuple[float, float]:
    """Wall seconds of the work and CPU seconds of its process tree (sampled; the cluster's start-up excluded)."""
    r = subprocess.run(
        [sys.executable, __file__, "--contender", how, command, str(folder), str(out), str(n), str(workers)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        sys.exit(f"{how} {command} failed:\n{r.stderr}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return d["seconds"], d["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commands", default="palette,quantize")
    ap.add_argument("--limit", type=int, help="use only the first N images")
    ap.add_argument("--k", type=int, default=64, help="shared palette size (default 64)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    ap.add_argument("--contender", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.contender:
        how, command, folder, out, n, workers = a.contender
        contender(how, command, folder, out, int(n), int(workers))
        return
    if a.child:
        mode, folder, n, k, workers, out = a.child
        child(mode, folder, int(n), int(k), int(workers), out)
        return
    cores = batch.default_workers()
    tmp = Path(tempfile.mkdtemp(prefix="qfast-bench-batch-"))
    try:
        folder = tmp / "images"
        files = make_folder(folder, a.limit)
        n = len(files)
        px = sum(Image.open(f).size[0] * Image.open(f).size[1] for f in files)
        print(f"{n} images ({px / 1e6:.1f} Mpixels) in {folder}; {cores} cores; qfast {qfast.__version__}")
        one = [len(pickle.dumps(qfast.ColorHistogram(Image.open(f).convert("RGB")))) for f in files[:: max(1, n // 20)]]
        print(
            f"one image's histogram pickled: median {np.median(one) / 1e3:.0f} kB (the PNG files: median "
            f"{np.median([f.stat().st_size for f in files]) / 1e3:.0f} kB)"
        )
        for command in filter(None, a.commands.split(",")):  # --commands "" for the shared palette alone
            opts = " ".join(f"--{k} {v}" for k, v in COMMANDS[command][0].items())
            print(
                f"\n{command} {opts}: images/s (higher is better), CPU-seconds per image (all processes), output size "
                "(qfast writes its PNGs at its own zlib level, the loops at Pillow's default)"
            )
            res = {}
            contenders = [
                ("plain loop (Pillow + qfast, one process)", "loop", 1),
                (f"concurrent.futures pool of it, {cores} procs", "pool", cores),
                ("qfast batch --workers 1", "batch", 1),
                (f"qfast batch --workers {cores}", "batch", cores),
            ]
            if not a.no_dask:
                contenders.append((f"dask LocalCluster, {cores} workers", "dask", cores))
            for name, how, workers in contenders:
                out = tmp / f"{command}-{how}-{workers}"
                seconds, cpu = run_contender(how, command, folder, out, n, workers)
                res[name] = n / seconds
                size = sum(f.stat().st_size for f in out.rglob("*.png")) / n / 1024
                print(
                    f"  {name:<44} {n / seconds:7.1f} img/s  {seconds:6.1f} s  {1e3 * cpu / n:6.1f} ms CPU/img  "
                    f"{size:6.1f} KiB/img  [{load()}]",
                    flush=True,
                )
            b1, bn = res["qfast batch --workers 1"], res[f"qfast batch --workers {cores}"]
            pool = res[f"concurrent.futures pool of it, {cores} procs"]
            print(f"  all workers / one worker:       {bn / b1:5.2f}x  (target >= 1.8)")
            print(f"  qfast batch / futures pool:     {bn / pool:5.2f}x  (target >= 1.0)")
            print(f"  qfast batch / plain loop:       {bn / res['plain loop (Pillow + qfast, one process)']:5.2f}x")
            if not a.no_dask:
                d = res[f"dask LocalCluster, {cores} workers"]
                print(f"  dask / qfast batch:             {d / bn:5.2f}x  (target >= 0.75)")
        print(f"\nshared palette, k = {a.k}: wall time, peak RSS  [{load()}]")
        # The last row has every image twice (hard links under a second name): twice the images, the same colours.
        twice = tmp / "twice"
        twice.mkdir()
        for f in files:
            for c in ("a", "b"):
                os.link(f, twice / f"{c}-{f.name}")
        rows = [(folder, min(n, s)) for s in sorted({min(n, s) for s in (50, 200, n)})] + [(twice, 2 * n)]
        for where, m in rows:
            hist, hp = run_child("histogram", where, m, a.k, cores, tmp)
            lst, lp = run_child("list", where, m, a.k, cores, tmp)
            same = np.array_equal(hp, lp)
            print(
                f"  {m:4d} images: histogram reduction {hist['seconds']:6.2f} s, peak {hist['total_mib']:5.0f} MiB in "
                f"all (parent {hist['rss_mib']:4.0f}, largest worker {hist['worker_mib']:4.0f}) | "
                f"kmeans_palette(list) {lst['seconds']:6.2f} s, peak {lst['total_mib']:5.0f} MiB | identical: {same}"
                f"  [{load()}]",
                flush=True,
            )
            print(f"         the sum: {hist['colours']:,} colours, {hist['hist_bytes'] / 1e6:.1f} MB pickled")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
