"""`vertexcompat auth ...` on a temporary data dir, the way an operator runs it."""

import json
import stat

import pytest

from vertexcompat.cli.main import main


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


def test_thought_keys_rotate_and_retire(tmp_path, capsys) -> None:
    from vertexcompat.auth.thought_signatures import BadThoughtSignature, ThoughtSealer
    from vertexcompat.store.sqlite import open_database
    from vertexcompat.store.thought_keys import SqliteThoughtKeys

    assert main(["auth", "rotate-thought-key", "--data-dir", str(tmp_path)]) == 0
    first = capsys.readouterr().out.split()[3].rstrip(";")
    database = open_database(tmp_path)
    try:
        sealed = ThoughtSealer(SqliteThoughtKeys(database)).seal("t", binding="text")
    finally:
        database.close()
    raw = __import__("base64").b64decode(sealed)  # magic(4) ‖ len(key id) ‖ key id ‖ …
    assert raw[5:5 + raw[4]].decode() == first
    assert main(["auth", "rotate-thought-key", "--data-dir", str(tmp_path)]) == 0
    assert main(["auth", "retire-thought-key", "--data-dir", str(tmp_path), "--key-id", first]) == 0
    assert main(["auth", "retire-thought-key", "--data-dir", str(tmp_path), "--key-id", first]) == 1
    database = open_database(tmp_path)
    try:
        with pytest.raises(BadThoughtSignature):
            ThoughtSealer(SqliteThoughtKeys(database)).open(sealed, binding="text")
    finally:
        database.close()
