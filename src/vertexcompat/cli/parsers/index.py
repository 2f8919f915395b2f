"""`vertexcompat index add|list|remove`'s arguments; the commands themselves:
`cli/index.py`."""

from __future__ import annotations

import argparse

from vertexcompat.cli.parsers import Handler

_COMMAND = "vertexcompat.cli.index"


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser(
        "index", help="the search index grounded requests are answered from")
    actions = parser.add_subparsers(dest="index_command", required=True)

    add = actions.add_parser(
        "add", help="index documents (.md, .markdown, .txt, .html, .htm, .pdf; directories "
                    "recursively); a file added before is replaced")
    add.add_argument("paths", nargs="+", metavar="PATH", help="a file or a directory")
    add.add_argument("--no-embeddings", dest="embeddings", action="store_false",
                     help="index words only (no MiniLM embeddings: faster, but a question "
                          "that uses other words than the document is not found)")
    _settings_arguments(add)
    add.set_defaults(handler=Handler(_COMMAND, "run_add"))

    listing = actions.add_parser("list", help="print the indexed documents")
    _settings_arguments(listing)
    listing.set_defaults(handler=Handler(_COMMAND, "run_list"))

    remove = actions.add_parser("remove", help="remove documents by id (see `index list`)")
    remove.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    _settings_arguments(remove)
    remove.set_defaults(handler=Handler(_COMMAND, "run_remove"))


def _settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config file")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="the server's data directory (the index is DIR/index unless the "
                             "config's search_index_dir says otherwise)")
