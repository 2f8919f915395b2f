"""Each command's arguments, apart from what the command does.

`cli/main.py` builds the whole parser on every run from these modules (one per command,
`register(subcommands)`), so they import only argparse and each other. What a command does
lives in `cli/<command>.py`, imported by its `Handler` when that command runs: `--help`, a
usage error or `vertexcompat auth ...` never import what `serve` or `chat` need
(tests/unit/cli/test_imports.py holds this).
"""

from __future__ import annotations

import argparse
import importlib


class Handler:
    """Runs `module.function(args)`, importing `module` only then."""

    def __init__(self, module: str, function: str) -> None:
        self.module = module
        self.function = function

    def __call__(self, args: argparse.Namespace) -> int:
        run = getattr(importlib.import_module(self.module), self.function)
        return int(run(args))

    def __repr__(self) -> str:
        return f"Handler({self.module}.{self.function})"
