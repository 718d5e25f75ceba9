"""Run every benchmark module (or those named by --only / BENCH_ONLY) and merge their figures
into bench/results.json, keyed by module name."""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
NOT_BENCHMARKS = {"__main__"}


def benchmark_modules() -> list[str]:
    names = []
    for info in pkgutil.iter_modules([str(HERE)]):
        if info.name in NOT_BENCHMARKS or info.name.startswith("_"):
            continue
        if hasattr(importlib.import_module(f"bench.{info.name}"), "run"):
            names.append(info.name)
    return sorted(names)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                        help="comma list of benchmark modules to run (default: all; env BENCH_ONLY)")
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")),
                        help="smaller sizes, for a quick local check (env BENCH_QUICK=1); figures are marked quick")
    parser.add_argument("--profile", action="store_true", default=bool(os.environ.get("BENCH_PROFILE")),
                        help="profile with pyinstrument where a benchmark supports it (env BENCH_PROFILE=1)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    available = benchmark_modules()
    wanted = [n.strip() for n in args.only.split(",") if n.strip()] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    results = orjson.loads(RESULTS.read_bytes()) if RESULTS.exists() else {}
    for name in wanted:
        print(f"== bench.{name}", flush=True)
        started = time.time()
        figures = importlib.import_module(f"bench.{name}").run(args)
        figures.update(measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), quick=args.quick,
                       machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        results[name] = figures
        # The figures a module names in TOP_LEVEL also stand at the top (the keys issue 7 asks for).
        for key in getattr(importlib.import_module(f"bench.{name}"), "TOP_LEVEL", ()):
            results[key] = figures[key]
        print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode(), flush=True)
    RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    print(f"results merged into {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
