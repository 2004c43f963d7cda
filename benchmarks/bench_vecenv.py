"""Vectorised environment throughput: env steps/s vs number of workers, in-process (sync) vs
spawned worker processes (async, shared-memory observations).

Usage: python benchmarks/bench_vecenv.py [--env ID] [--workers 1 2 4] [--steps 200] [--json]
(the same as ``navfusion bench vecenv``).
"""

from __future__ import annotations

import sys

from navfusion.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "vecenv", *sys.argv[1:]]))
