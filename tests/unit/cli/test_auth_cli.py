"""`vertexcompat auth ...` on a temporary data dir, the way an operator runs it."""

import json
import stat

import pytest

from vertexcompat.cli.main import main

from ...postgres import postgres_server  # noqa: F401 - a fixture


@pytest.fixture(autouse=True)
def data_dir(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("VERTEXCOMPAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VERTEXCOMPAT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_create_list_token_revoke(tmp_path, capsys) -> None:
    out = tmp_path / "demo-key.json"
    assert main(["auth", "create-service-account", "--project", "demo", "--out", str(out),
                 "--port", "9090"]) == 0
    key = json.loads(out.read_text())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert key["token_uri"] == "http://127.0.0.1:9090/token"
    assert key["client_email"] == "vertexcompat@demo.iam.gserviceaccount.com"
    # The key file is never overwritten.
    assert main(["auth", "create-service-account", "--project", "demo", "--out", str(out)]) == 1
    capsys.readouterr()

    assert main(["auth", "list-service-accounts", "--project", "demo"]) == 0
    listing = capsys.readouterr().out
    assert key["client_email"] in listing and "roles/aiplatform.user" in listing
    assert key["private_key"].splitlines()[1] not in listing

    assert main(["auth", "print-access-token", "--key", str(out)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("vxc1.")
    assert main(["auth", "revoke-token", "--token", token]) == 0
    assert main(["auth", "revoke-token", "--token", token]) == 1  # already revoked

    assert main(["auth", "revoke-key", "--key-id", key["private_key_id"]]) == 0
    capsys.readouterr()
    assert main(["auth", "print-access-token", "--key", str(out)]) == 1
    assert "invalid_grant" in capsys.readouterr().err


def test_roles_grant_and_revoke(tmp_path, capsys) -> None:
    out = tmp_path / "k.json"
    main(["auth", "create-service-account", "--project", "a", "--name", "bot", "--out", str(out)])
    email = "bot@a.iam.gserviceaccount.com"
    assert main(["auth", "roles", "grant", "--project", "b", "--member", email,
                 "--role", "roles/aiplatform.user"]) == 0
    main(["auth", "list-service-accounts"])
    assert "b:roles/aiplatform.user" in capsys.readouterr().out
    assert main(["auth", "roles", "revoke", "--project", "b", "--member", email,
                 "--role", "roles/aiplatform.user"]) == 0
    assert main(["auth", "roles", "grant", "--project", "b", "--member", "nobody@x",
                 "--role", "roles/aiplatform.user"]) == 1
    assert main(["auth", "roles", "grant", "--project", "b", "--member", email,
                 "--role", "roles/made-up"]) == 1


def test_serve_no_auth_flag_turns_auth_off(monkeypatch) -> None:
    import uvicorn

    import vertexcompat.container as container_module
    from tests.fakes import make_container

    seen = {}
    monkeypatch.setattr(container_module, "build_container",
                        lambda settings: seen.setdefault("settings", settings) and make_container())
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    assert main(["serve", "--no-auth"]) == 0
    assert seen["settings"].auth_enabled is False
    seen.clear()
    assert main(["serve"]) == 0
    assert seen["settings"].auth_enabled is True


@pytest.fixture(params=("data-dir", "sqlite-url", "postgresql"))
def store_url(request, monkeypatch, tmp_path):
    """Where the commands should keep state: the data dir's SQLite (no URL), a SQLite
    file a URL names, or a real PostgreSQL (tests/postgres.py); None for the first."""
    if request.param == "data-dir":
        return None
    if request.param == "sqlite-url":
        url = f"sqlite:///{tmp_path / 'elsewhere' / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_schema("cli")
    monkeypatch.setenv("VERTEXCOMPAT_DATABASE_URL", url)
    return url


def test_thought_keys_rotate_and_retire_in_the_configured_store(
    tmp_path, capsys, store_url
) -> None:
    from vertexcompat.auth.thought_signatures import BadThoughtSignature, ThoughtSealer
    from vertexcompat.store.database import open_state_database
    from vertexcompat.store.thought_keys import SqlThoughtKeys

    def sealer_on_the_store():  # what `serve` opens with the same settings
        database = open_state_database(store_url, tmp_path, pool_size=1)
        return database, ThoughtSealer(SqlThoughtKeys(database))

    data_dir = ["--data-dir", str(tmp_path)]
    assert main(["auth", "rotate-thought-key", *data_dir]) == 0
    first = capsys.readouterr().out.split()[3].rstrip(";")
    database, sealer = sealer_on_the_store()
    try:
        sealed = sealer.seal("t", binding="text")
    finally:
        database.close()
    raw = __import__("base64").b64decode(sealed)  # magic(4) ‖ len(key id) ‖ key id ‖ …
    assert raw[5:5 + raw[4]].decode() == first
    assert main(["auth", "rotate-thought-key", *data_dir]) == 0
    assert main(["auth", "retire-thought-key", *data_dir, "--key-id", first]) == 0
    assert main(["auth", "retire-thought-key", *data_dir, "--key-id", first]) == 1
    database, sealer = sealer_on_the_store()
    try:
        with pytest.raises(BadThoughtSignature):
            sealer.open(sealed, binding="text")
        assert len(SqlThoughtKeys(database).usable()) == 1  # the second rotation's
    finally:
        database.close()
    if store_url is not None:  # nothing went to the data dir's own database
        assert not (tmp_path / "state.db").exists()


def test_thought_key_commands_on_an_unreachable_store_fail_in_one_line(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("VERTEXCOMPAT_DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:1/db")
    assert main(["auth", "rotate-thought-key", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err and "hunter2" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "state.db").exists()
