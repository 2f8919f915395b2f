"""ModelCatalog: split packages are assembled in order, checksummed, and cached."""

import hashlib
import sys
from pathlib import Path

import pytest

from vertexcompat.domain.errors import NotFound
from vertexcompat.engine.model_files import ModelCatalog, ModelSource


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    root = tmp_path / "site"
    blobs = [b"GGUF" + bytes([i]) * 1000 for i in range(3)]
    for i, blob in enumerate(blobs, start=1):
        pkg = root / f"vcfakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(root))
    whole = b"".join(blobs)
    yield whole
    for i in range(1, 4):
        sys.modules.pop(f"vcfakepart{i}", None)


def _source(whole: bytes, sha: str | None = None) -> ModelSource:
    return ModelSource(
        pieces=tuple((f"vcfakepart{i}", f"data/part{i:02d}.bin") for i in range(1, 4)),
        size=len(whole),
        sha256=sha or hashlib.sha256(whole).hexdigest(),
        install_hint="pip install vcfakepart1..3",
    )


def test_split_model_is_assembled_in_order_and_verified(tmp_path, fake_packages):
    catalog = ModelCatalog(tmp_path / "data", progress=False, known={"m": _source(fake_packages)})
    resolved = catalog.resolve("m")
    assert resolved.name == "m"
    assert resolved.path.read_bytes() == fake_packages
    assert [e.status for e in catalog.entries()] == ["ready"]


def test_second_resolve_reuses_the_verified_file(tmp_path, fake_packages):
    catalog = ModelCatalog(tmp_path / "data", progress=False, known={"m": _source(fake_packages)})
    first = catalog.resolve("m").path
    mtime = first.stat().st_mtime_ns
    assert catalog.resolve("m").path == first
    assert first.stat().st_mtime_ns == mtime


def test_checksum_mismatch_fails_and_leaves_no_file(tmp_path, fake_packages):
    bad = _source(fake_packages, sha="0" * 64)
    catalog = ModelCatalog(tmp_path / "data", progress=False, known={"m": bad})
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        catalog.resolve("m")
    assert list((tmp_path / "data" / "models").glob("*.gguf")) == []
    assert list((tmp_path / "data" / "models").glob(".*partial")) == []


def test_missing_package_names_the_install_command(tmp_path):
    src = ModelSource(
        pieces=(("vc_no_such_pkg", "data/part01.bin"),), size=1, sha256="0" * 64,
        install_hint="pip install vc-no-such-pkg",
    )
    catalog = ModelCatalog(tmp_path, progress=False, known={"m": src})
    with pytest.raises(NotFound, match="pip install vc-no-such-pkg"):
        catalog.resolve("m")
    assert [e.status for e in catalog.entries()] == ["missing"]


def test_gguf_path_resolves_to_itself(tmp_path):
    f = tmp_path / "my-model.gguf"
    f.write_bytes(b"GGUF")
    resolved = ModelCatalog(tmp_path, progress=False, known={}).resolve(str(f))
    assert resolved.name == "my-model" and resolved.path == f


def test_unknown_name_is_not_found(tmp_path):
    with pytest.raises(NotFound):
        ModelCatalog(tmp_path, progress=False, known={}).resolve("nope")
