"""README's install lines as a new user types them: the distribution name is not one that PyPI gives to another
project, and every ``pip install`` line installs this checkout (a path), never a name looked up on PyPI."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

#: Names on PyPI that belong to other projects (``qfast`` is a quantum-circuit synthesis tool there).
TAKEN = {"qfast"}


def _distribution() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["name"]


def test_the_distribution_name_is_ours():
    assert _distribution() not in TAKEN


def _pip_targets(text: str):
    for line in text.splitlines():
        m = re.search(r"pip install ([^#&`)]*)", line)
        if not m:
            continue
        for quoted1, quoted2, bare in re.findall(r"'([^']*)'|\"([^\"]*)\"|([^\s'\"]+)", m.group(1)):
            arg = quoted1 or quoted2 or bare.rstrip(".,;")
            if arg and not arg.startswith("-"):
                yield line.strip(), arg


def test_every_install_line_installs_this_checkout():
    docs = [ROOT / "README.md", *sorted((ROOT / "python" / "qfast").rglob("*.py"))]
    found = 0
    for doc in docs:
        for line, target in _pip_targets(doc.read_text("utf-8")):
            found += 1
            name = re.split(r"[\[<>=]", target)[0]
            # a path (".", "./x") installs the checkout; a bare name must be ours or a third-party package
            assert name.startswith(".") or name not in TAKEN, f"{doc.name}: {line!r} fetches PyPI's {name!r}"
    assert found
