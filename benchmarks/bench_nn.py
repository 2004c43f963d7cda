"""Benchmark of the neural core; same as ``navfusion bench nn`` (see BENCHMARKS.md, "Neural core").

Usage: python benchmarks/bench_nn.py [--json] [--quick] [--repeats N] [--device cuda] [--threads N]
"""

from __future__ import annotations

import sys

from navfusion.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "nn", *sys.argv[1:]]))
