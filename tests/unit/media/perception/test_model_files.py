"""Assembling split model files: the real Whisper parts are not needed to prove the rules,
so these tests build a tiny fake data package on sys.path."""

import hashlib
from pathlib import Path

import pytest

from vertexcompat.media.perception import PerceptionModelError, model_files
from vertexcompat.media.perception.model_files import SplitFile, assemble, package_file

PART1, PART2 = b"first half of the weights|", b"second half"


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    root = tmp_path / "site"
    data = root / "fake_model_parts" / "data"
    data.mkdir(parents=True)
    # No __init__.py needed to be found, but the real packages have one: mirror them.
    (root / "fake_model_parts" / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    (data / "model.bin.part1").write_bytes(PART1)
    (data / "model.bin.part2").write_bytes(PART2)
    (data / "config.json").write_bytes(b"{}")
    monkeypatch.syspath_prepend(str(root))
    return "fake_model_parts"


def files(package: str, *, model_sha: str | None = None) -> tuple[SplitFile, ...]:
    return (
        SplitFile("model.bin", ((package, "data/model.bin.part1"), (package, "data/model.bin.part2")),
                  model_sha or hashlib.sha256(PART1 + PART2).hexdigest()),
        SplitFile("config.json", ((package, "data/config.json"),), hashlib.sha256(b"{}").hexdigest()),
    )


def test_parts_are_concatenated_in_order_without_importing_the_package(
        fake_package: str, tmp_path: Path) -> None:
    target = assemble(files(fake_package), tmp_path / "model", progress=False)
    assert (target / "model.bin").read_bytes() == PART1 + PART2
    assert (target / "config.json").read_bytes() == b"{}"


def test_a_checksum_mismatch_is_a_clear_error_and_leaves_nothing_behind(
        fake_package: str, tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(PerceptionModelError, match=r"Checksum mismatch assembling model\.bin"
                                                   r".*expected 0{64}.*reinstall"):
        assemble(files(fake_package, model_sha="0" * 64), target, progress=False)
    assert list(target.iterdir()) == []  # no model.bin, no temp file, no stamp


def test_a_second_assembly_trusts_the_stamp_and_does_not_rehash(
        fake_package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    assemble(files(fake_package), target, progress=False)

    def no_rehash(*args: object, **kwargs: object) -> None:
        raise AssertionError("re-hashed a verified file")
    monkeypatch.setattr(model_files, "_write_verified", no_rehash)
    assert assemble(files(fake_package), target, progress=False) == target


def test_a_damaged_file_is_rebuilt_even_with_a_stamp(
        fake_package: str, tmp_path: Path) -> None:
    target = tmp_path / "model"
    assemble(files(fake_package), target, progress=False)
    (target / "model.bin").write_bytes(PART1)  # truncated by a crash or a bad copy
    assemble(files(fake_package), target, progress=False)
    assert (target / "model.bin").read_bytes() == PART1 + PART2


def test_a_missing_package_names_the_package_to_install() -> None:
    with pytest.raises(PerceptionModelError, match="`no-such-model-part9` installed"):
        package_file("no_such_model_part9", "data/model.bin.part9")


def test_the_pinned_whisper_parts_are_installed() -> None:
    for spec in model_files.WHISPER_BASE:
        assert len(spec.sha256) == 64
        for package, relative in spec.parts:
            assert package_file(package, relative).is_file()
