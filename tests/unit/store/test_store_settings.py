"""Which state database the settings pick: `[store] url` in the config file,
`VERTEXCOMPAT_DATABASE_URL` over it, the data dir's SQLite without either; a bad URL is a
one-line error from any command, never a traceback."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vertexcompat.cli.main import main
from vertexcompat.config import load_settings


def test_the_config_file_names_the_database_and_the_environment_wins(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("VERTEXCOMPAT_DATABASE_URL", raising=False)
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "postgresql://vc@db.internal/vc"\npool_size = 8\n')
    settings = load_settings(config)
    assert settings.store_url == "postgresql://vc@db.internal/vc"
    assert settings.store.pool_size == 8
    monkeypatch.setenv("VERTEXCOMPAT_DATABASE_URL", "postgresql://vc@other/vc")
    assert load_settings(config).store_url == "postgresql://vc@other/vc"
    monkeypatch.delenv("VERTEXCOMPAT_DATABASE_URL")
    assert load_settings().store_url is None  # the data dir's state.db


def test_a_malformed_url_in_the_config_names_what_is_wrong(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "mysql://db/vc"\n')
    with pytest.raises(ValidationError, match="unknown database URL scheme 'mysql'"):
        load_settings(config)


def test_commands_on_an_unreachable_database_fail_in_one_line(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("VERTEXCOMPAT_DATABASE_URL", "postgresql://vc:pw@127.0.0.1:1/vc")
    assert main(["auth", "list-service-accounts", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vertexcompat: state database: cannot use PostgreSQL at "
                          "postgresql://vc@127.0.0.1:1/vc")
    assert "Traceback" not in err and ":pw@" not in err
