"""Install llama-cpp-python built with vertexcompat's matrix kernels (native/vc_gemm.h).

    .venv/bin/python native/install_llama_cpp.py      # make install / make test run this first

The version is the one pyproject.toml pins. The first run downloads llama-cpp-python's sdist
from PyPI (`pip download`), patches the llama.cpp sources it vendors
(native/patch_llama_cpp.py), builds a wheel for this CPU (about 10 minutes on 2 cores: the
same compile a plain `pip install llama-cpp-python` does) and keeps it in the data dir:

    <data dir>/llama-cpp-python/<version>-<key>/llama_cpp_python-<version>-*.whl

`key` hashes the kernel and the patch's insertions, $CMAKE_ARGS and this CPU's flags, so a changed
kernel or another machine builds anew; later runs (a fresh clone, CI) install the kept
wheel in seconds. The data dir is $VERTEXCOMPAT_DATA_DIR, else $XDG_CACHE_HOME/vertexcompat,
else ~/.cache/vertexcompat (where the server keeps its models). Standard library and pip
only: it runs before the project is installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPROJECT = HERE.parent / "pyproject.toml"
sys.path.insert(0, str(HERE))

from patch_llama_cpp import fingerprint, patch  # noqa: E402


def pinned_version(pyproject: Path = PYPROJECT) -> str:
    found = re.findall(r'"llama-cpp-python==([^"\s;]+)"', pyproject.read_text())
    if len(set(found)) != 1:
        raise SystemExit(f"{pyproject}: expected one pinned llama-cpp-python version, found {found}")
    return found[0]


def data_dir() -> Path:
    configured = os.environ.get("VERTEXCOMPAT_DATA_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "vertexcompat"


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return os.uname().machine


def build_key(version: str) -> str:
    h = hashlib.sha256()
    for part in (version, os.environ.get("CMAKE_ARGS", ""), cpu_flags(),
                 f"{sys.version_info.major}.{sys.version_info.minor}"):
        h.update(part.encode() + b"\0")
    h.update(fingerprint())
    return h.hexdigest()[:16]


def wheel_dir(version: str) -> Path:
    return data_dir() / "llama-cpp-python" / f"{version}-{build_key(version)}"


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def build_wheel(version: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_path = Path(tmp)
        _pip("download", "--no-binary", ":all:", "--no-deps", "--quiet", "-d", tmp,
             f"llama-cpp-python=={version}")
        archives = list(tmp_path.glob("llama_cpp_python-*.tar.gz"))
        if len(archives) != 1:
            raise SystemExit(f"pip download gave no single llama-cpp-python {version} sdist")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(tmp_path / "src", filter="data")
        (project,) = (tmp_path / "src").iterdir()
        patch(project / "vendor" / "llama.cpp")
        print(f"building llama-cpp-python {version} with vertexcompat's kernel "
              "(about 10 minutes on 2 cores, once per machine)…", file=sys.stderr, flush=True)
        built = tmp_path / "wheel"
        _pip("wheel", "--no-deps", "-w", str(built), str(project))
        wheels = list(built.glob("llama_cpp_python-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"the build left {len(wheels)} wheels in {built}")
        staging = tmp_path / "done"
        staging.mkdir()
        shutil.move(str(wheels[0]), staging / wheels[0].name)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    return next(out.glob("llama_cpp_python-*.whl"))


def installed_from(wheel: Path) -> bool:
    """Whether the environment's llama-cpp-python is this wheel (pip records its URL)."""
    try:
        from importlib.metadata import distribution

        direct = distribution("llama-cpp-python").read_text("direct_url.json") or ""
    except Exception:  # noqa: BLE001 - not installed, or no record: install
        return False
    return wheel.resolve().as_uri() in direct


def main() -> int:
    version = pinned_version()
    target = wheel_dir(version)
    wheels = sorted(target.glob("llama_cpp_python-*.whl")) if target.is_dir() else []
    wheel = wheels[0] if wheels else build_wheel(version, target)
    if installed_from(wheel):
        print(f"llama-cpp-python {version} (vertexcompat kernel) is installed: {wheel}")
        return 0
    _pip("install", "--force-reinstall", "--no-deps", str(wheel))
    # its own dependencies, as its metadata lists them (already there: nothing happens)
    _pip("install", str(wheel))
    print(f"installed llama-cpp-python {version} with vertexcompat's kernel from {wheel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
