"""Benchmarks: `make bench` runs `python -m bench`; each module here exposes run(args) -> dict."""
