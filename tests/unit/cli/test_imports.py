"""What a `vertexcompat` process imports, seen in a fresh interpreter: the test suite and
operators start many of them, and every import a command does not need is paid on each
start. The parser imports no command (`cli/parsers/`), the `auth` commands import no server
(`auth_services.py`), and `serve` imports what only some requests need on first use."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vertexcompat.cli.main import build_parser
from vertexcompat.cli.parsers import Handler

REPO = Path(__file__).parents[3]

# What building the parser, `--help` or a usage error must not import: every command's
# implementation and what they stand on.
COMMANDS_AND_THEIR_STACK = (
    "vertexcompat.cli.auth",
    "vertexcompat.cli.chat",
    "vertexcompat.cli.endpoints",
    "vertexcompat.cli.index",
    "vertexcompat.cli.models",
    "vertexcompat.cli.serve",
    "vertexcompat.cli.store",
    "vertexcompat.config",
    "vertexcompat.container",
    "vertexcompat.auth_services",
    "vertexcompat.store",
    "pydantic",
    "pydantic_settings",
    "uvicorn",
    "fastapi",
    "openai",
    "httpx",
    "numpy",
    "llama_cpp",
)
# What the `auth` commands (settings + state database) must not import: the server.
SERVER_STACK = (
    "vertexcompat.container",
    "vertexcompat.web",
    "vertexcompat.services",
    "vertexcompat.backends",
    "vertexcompat.media",
    "fastapi",
    "uvicorn",
    "numpy",
    "llama_cpp",
)
# What only some requests need, so `serve` imports it on first use rather than before it
# is ready: URL media (httpx), JSON schemas and tools (jsonschema), assembling a model file
# (tqdm).
FIRST_USE_ONLY = ("httpx", "jsonschema", "tqdm", "rich")


def imported_after(code: str, *args: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (`sys.argv[1:]` = args)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTEXCOMPAT_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def loaded(modules: set[str], names: tuple[str, ...]) -> set[str]:
    """Those of `names` (packages with their submodules) that are in `modules`."""
    return {n for n in names if any(m == n or m.startswith(n + ".") for m in modules)}


def test_the_parser_and_help_import_no_command() -> None:
    modules = imported_after("""
import contextlib, io
from vertexcompat.cli.main import main
for argv in (["--help"], ["auth", "create-service-account", "--help"], ["serve", "--help"],
             ["chat", "--help"], ["index", "add"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        with contextlib.suppress(SystemExit):
            main(argv)
""")
    assert "vertexcompat.cli.parsers.auth" in modules
    assert loaded(modules, COMMANDS_AND_THEIR_STACK) == set()


def test_an_auth_command_imports_no_server(tmp_path: Path) -> None:
    modules = imported_after("""
import contextlib, io, sys
from vertexcompat.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["auth", "list-service-accounts", "--data-dir", sys.argv[1]]) == 0
""", str(tmp_path))
    assert {"vertexcompat.auth_services", "vertexcompat.config"} <= modules
    assert loaded(modules, SERVER_STACK) == set()


def test_serve_imports_what_some_requests_need_on_first_use(tmp_path: Path) -> None:
    # As `serve` starts: the settings, the container and the app (the model loads later,
    # on the loader's thread, from engine/model_files.py).
    modules = imported_after("""
import sys
import uvicorn
from vertexcompat.cli.main import main
from vertexcompat.config import load_settings
from vertexcompat.container import build_container
from vertexcompat.engine.model_files import ModelCatalog
from vertexcompat.web.app import create_app
settings = load_settings(None, data_dir=sys.argv[1], auth_enabled=False)
app = create_app(build_container(settings))
""", str(tmp_path))
    assert {"vertexcompat.backends.local", "llama_cpp", "fastapi"} <= modules
    assert loaded(modules, FIRST_USE_ONLY) == set()


def _commands(parser, path=()):  # type: ignore[no-untyped-def]
    """(command words, its parser) for every command that runs something."""
    handler = parser.get_default("handler")
    if handler is not None:
        yield path, handler
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(build_parser()))


@pytest.mark.parametrize(("words", "handler"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_every_command_names_a_function_that_exists(words, handler) -> None:
    assert isinstance(handler, Handler), words
    assert handler.module == f"vertexcompat.cli.{words[0]}"
    assert callable(getattr(importlib.import_module(handler.module), handler.function))
