"""The `loomwork` command: one module per group of commands, `command` ties them together.

Imports are local to each command so `check` starts fast.
"""

from __future__ import annotations

from engine.cli.command import build_parser, main

__all__ = ["build_parser", "main"]
