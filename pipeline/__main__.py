"""``python -m pipeline demo``: stream a reply and show it live."""

from __future__ import annotations

import sys

from ._demo import main

sys.exit(main(sys.argv[1:]))
