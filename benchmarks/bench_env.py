"""Environment step speed: cached (ViewStore lookups) vs uncached (live rendering) at 128².

Usage: python benchmarks/bench_env.py [--env ID | --toy] [--resolution 128] [--steps 20000] [--json]
(the same as ``navfusion bench env``).
"""

from __future__ import annotations

import sys

from navfusion.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "env", *sys.argv[1:]]))
