"""``python -m qfast.cli``: the command line (as ``python -m qfast``)."""

import sys

from . import main

sys.exit(main())
