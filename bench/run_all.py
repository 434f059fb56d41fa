"""Run every benchmark in one go: `python -m bench.run_all [--size S]` (`make bench`).

Each benchmark prints its figures and writes `bench/results/<name>.json`; `--smoke` runs the
smallest size, which only shows that the scripts work (CI may run it; it asserts no speed).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.common import SIZES, say

BENCHMARKS = ("read_api", "ingest", "sweep")


def main(argv: list[str] | None = None) -> int:
    parse = argparse.ArgumentParser(description=__doc__)
    parse.add_argument("--size", choices=sorted(SIZES), default="small")
    parse.add_argument("--smoke", action="store_true", help="the same as --size smoke")
    parse.add_argument("--only", choices=BENCHMARKS, action="append", help="run just these")
    args = parse.parse_args(argv)
    size = "smoke" if args.smoke else args.size
    failed = []
    for name in args.only or BENCHMARKS:
        say(f"== {name} ({size})")
        module = importlib.import_module(f"bench.{name}")
        if module.main(["--size", size]) != 0:
            failed.append(name)
    if failed:
        say(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
