"""Training throughput; same as ``navfusion bench train`` (see BENCHMARKS.md, "Training throughput").

Usage:
  python benchmarks/bench_train.py [--json]                 # it/s of the four agents, K = 25, batch 256
  python benchmarks/bench_train.py --compare [--with-bf16]  # before/after in one run (baseline commit vs tree)
  python benchmarks/bench_train.py --compare --json > benchmarks/results/train.json
"""

from __future__ import annotations

import sys

from navfusion.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "train", *sys.argv[1:]]))
