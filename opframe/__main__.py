"""``python -m opframe``: the same as the ``opframe`` command."""

from __future__ import annotations

import sys

from opframe.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
