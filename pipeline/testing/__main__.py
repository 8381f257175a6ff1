"""``python -m pipeline.testing``: run the local provider server until killed."""

from __future__ import annotations

import sys

from ._process import main

if __name__ == "__main__":
    sys.exit(main())
