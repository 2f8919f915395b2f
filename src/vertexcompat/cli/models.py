"""`vertexcompat models list`: the local model catalog and the Gemini alias table."""

from __future__ import annotations

import argparse

from vertexcompat.cli.serve import add_settings_arguments, settings_from_args


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("models", help="local models and aliases")
    actions = parser.add_subparsers(dest="models_command", required=True)
    list_parser = actions.add_parser("list", help="print the model catalog and aliases")
    add_settings_arguments(list_parser)
    list_parser.set_defaults(handler=run_list)


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
