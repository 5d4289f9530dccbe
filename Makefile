# Developer shortcuts. CI runs .ci/run, which installs from scratch and runs the same checks.
PY ?= python3

.PHONY: help build-dev build-prod format lint test bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build-dev:  ## editable install with the release extension, plus the test tools
	$(PY) -m pip install -e ".[test,dashboard,ui]"

build-prod:  ## a release wheel in dist/
	$(PY) -m maturin build --release --out dist

format:  ## rustfmt and ruff format
	cargo fmt
	$(PY) -m ruff format python tests benchmarks
	$(PY) -m ruff check --fix python tests benchmarks web onnx

lint:  ## the checks CI runs before the tests
	cargo fmt --check
	cargo clippy --release --all-targets --features python -- -D warnings
	$(PY) -m ruff check python tests benchmarks web onnx
	cd tests && $(PY) -m mypy.stubtest qfast._core --allowlist stubtest-allowlist.txt

test:  ## Rust and Python tests
	cargo test --release
	cd tests && $(PY) -m pytest

bench:  ## the speed comparisons
	$(PY) benchmarks/uniform.py
