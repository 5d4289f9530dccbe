"""The code map of ARCHITECTURE.md, checked: no import cycle between Rust files, and each part imports only what the
map allows (so the layout cannot drift from the document without a test failing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RUST = Path(__file__).resolve().parents[1] / "rust"

#: What each part of the core may use besides itself (ARCHITECTURE.md, "Code map"). The bindings may use everything.
ALLOWED = {
    "alloc": {"error"},
    "bayer": set(),
    "error": set(),
    "pack": {"error", "alloc"},
    "metrics": {"error", "alloc"},
    "quantize": {"error", "alloc", "bayer"},
    "palette": {"error", "alloc", "bayer"},
    "codec": {"error", "alloc", "quantize"},
    "png_file": {"error", "alloc"},
}


def _module_of(path: Path) -> str:
    """``rust/palette/kmeans.rs`` -> ``palette::kmeans``; ``mod.rs`` names its folder; ``lib.rs`` is the root."""
    parts = list(path.relative_to(RUST).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return "::".join(parts)


def _rust_files() -> dict[str, str]:
    files = {_module_of(p): p.read_text() for p in RUST.rglob("*.rs") if "fuzz" not in p.relative_to(RUST).parts}
    assert "palette::kmeans" in files and "codec::pipeline" in files, sorted(files)
    return files


def _expand(path: str) -> list[str]:
    """``a::{b, c::d}`` -> ``a::b``, ``a::c::d`` (one level of braces, as the sources use)."""
    m = re.match(r"^(.*?)\{(.*)\}$", path, re.S)
    if not m:
        return [path]
    return [m.group(1) + item.strip() for item in m.group(2).split(",") if item.strip()]


def _references(module: str, text: str, modules: set[str]) -> set[str]:
    """The file modules that ``text`` (the source of ``module``) names through ``crate::`` or ``super::`` paths."""
    text = re.sub(r"//.*", "", text)  # comments and doc comments name modules without using them
    paths = [p for m in re.finditer(r"\bcrate::((?:\{[^}]*\}|[\w:])+)", text) for p in _expand(m.group(1))]
    parent = module.rsplit("::", 1)[0] if "::" in module else ""
    for m in re.finditer(r"\bsuper::((?:\{[^}]*\}|[\w:])+)", text):
        paths += [f"{parent}::{p}" if parent else p for p in _expand(m.group(1))]
    found = set()
    for p in paths:
        segs = [s for s in p.split("::") if s and s != "self"]
        for n in range(len(segs), 0, -1):  # the longest prefix that is a file module
            if "::".join(segs[:n]) in modules:
                found.add("::".join(segs[:n]))
                break
    found.discard(module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = _rust_files()
    return {m: _references(m, t, set(files)) for m, t in files.items()}


def test_reference_parser_sees_known_imports(graph: dict[str, set[str]]) -> None:
    assert "palette::remap" in graph["palette::kmeans"]
    assert {"codec::container", "codec::entropy", "quantize::uniform", "alloc"} <= graph["codec::pipeline"]
    assert "py" in graph["py::palette"]


def test_no_import_cycle_between_rust_files(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n] if n in stack else [m, n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_each_part_imports_only_what_the_map_allows(graph: dict[str, set[str]]) -> None:
    for module, refs in graph.items():
        part = module.split("::")[0]
        if part in ("", "py"):
            continue
        used = {r.split("::")[0] for r in refs} - {part, ""}
        assert used <= ALLOWED[part], f"{module} uses {sorted(used - ALLOWED[part])}, outside its part's allowance"


def test_pyo3_only_in_the_bindings() -> None:
    for p in RUST.rglob("*.rs"):
        rel = p.relative_to(RUST)
        if rel.parts[0] in ("py", "fuzz"):
            continue
        assert not re.search(r"\b(pyo3|numpy)::", p.read_text()), f"{rel} uses PyO3 outside rust/py/"


def test_every_folder_says_what_it_holds() -> None:
    for folder in [RUST, *[d for d in RUST.iterdir() if d.is_dir() and d.name != "fuzz"]]:
        root = folder / ("lib.rs" if folder == RUST else "mod.rs")
        assert root.read_text().startswith("//!"), f"{root.relative_to(RUST.parent)} has no module doc comment"


def test_every_call_from_python_runs_on_the_fork_safe_pool() -> None:
    # py.detach directly would run rayon's global pool, which hangs in a forked child (rust/py/threads.rs).
    for p in (RUST / "py").glob("*.rs"):
        if p.name != "threads.rs":
            assert "py.detach(" not in p.read_text(), f"{p.name}: use threads::detach(py, ...), not py.detach"
