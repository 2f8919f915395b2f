"""`vertexcompat models list`: the local model catalog and the Gemini alias table; and
`format_table`, the tables every command prints. Its arguments: `cli/parsers/models.py`."""

from __future__ import annotations

import argparse

from vertexcompat.cli.serve import settings_from_args


def run_list(args: argparse.Namespace) -> int:
    from vertexcompat.container import model_aliases, model_catalog_entries

    settings = settings_from_args(args)
    rows = [
        (e.name, e.status, _human_size(e.size), str(e.source))
        for e in model_catalog_entries(settings)
    ]
    print(format_table(("NAME", "STATUS", "SIZE", "SOURCE"), rows))
    print()
    print(format_table(("ALIAS", "MODEL"), sorted(model_aliases(settings).items())))
    return 0


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def _human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
