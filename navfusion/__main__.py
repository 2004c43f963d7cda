"""``python -m navfusion`` = the ``navfusion`` command (used by ``torchrun -m navfusion ...``)."""

import sys

from navfusion.cli import main

if __name__ == "__main__":
    sys.exit(main())
