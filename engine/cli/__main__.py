"""`python -m engine.cli` runs the `loomwork` command."""

from __future__ import annotations

import sys

from engine.cli.command import main

sys.exit(main())
