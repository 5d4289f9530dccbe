"""The documentation runs: every docstring example in the package (as doctests) and every code block of README.md,
verbatim, as a new user would paste them, so the docs cannot rot unnoticed.

Docstring examples see ``np``, ``qfast`` and ``img`` (the bundled parrots photo), each module's examples in one
namespace, in a fresh folder. README's ``python`` blocks run each in a namespace of its own, and its ``bash`` lines that
start with ``qfast`` run in-process, in a folder holding ``photo.png`` and ``photo.jpg`` (and the folders of images
that the batch lines name).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import qfast

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Modules that need Panel to import.
PANEL = {"qfast.dashboard.app", "qfast.dashboard.layout", "qfast.dashboard.state", "qfast.dashboard.swipe"}


def _modules():
    names = ["qfast"]
    for info in pkgutil.walk_packages(qfast.__path__, "qfast."):
        names.append(info.name)
    return sorted(n for n in names if n not in PANEL and not n.endswith("__main__"))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    globs = {"np": np, "qfast": qfast, "img": qfast.samples.load()}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=globs):
        if test.examples and test.name.startswith(name):
            runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name}: see the output above"


def _blocks(kind):
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text("utf-8"), flags=re.S)


def test_readme_python_blocks_run_each_on_its_own(tmp_path, monkeypatch):
    """Each block is pasted on its own: no block may lean on names from an earlier one."""
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert blocks
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), {"__name__": "__readme__"})


#: README's qfast lines that serve, or need a running Dask scheduler; each is checked elsewhere (tests/dashboard,
#: tests/batch/test_dask.py with a real LocalCluster).
SKIP = ("qfast serve", "qfast demo")
NEEDS_A_CLUSTER = "--scheduler"


def _qfast_lines():
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("qfast ") and not line.startswith(SKIP) and NEEDS_A_CLUSTER not in line:
                yield line


def test_readme_qfast_lines_run(tmp_path, monkeypatch, capsys):
    from qfast.cli import main

    monkeypatch.chdir(tmp_path)
    photo = qfast.samples.load()
    Image.fromarray(photo).save("photo.png")
    Image.fromarray(photo).save("photo.jpg", quality=90)
    qfast.quantize_colors(photo, 16).to_pil().save("vocabulary.png")  # an indexed palette for --palette-from
    for folder in ("photos/trip", "dataset", "archive", "site"):  # the folders README's batch lines name
        Path(folder).mkdir(parents=True)
        Image.fromarray(photo).save(f"{folder}/photo.png")
    Image.fromarray(photo).save("photos/photo.jpg", quality=90)
    lines = list(_qfast_lines())
    assert len(lines) >= 8
    for line in lines:
        args = [a for a in shlex.split(line)[1:] if not (a.startswith("[") and a.endswith("]"))]
        with pytest.raises(SystemExit) if "--help" in args else _nothing():
            status = main(args)
            assert status == 0, f"{line!r} failed: {capsys.readouterr().err}"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
