"""``python -m pipeline``: the command line (see ``pipeline/_cli``)."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
