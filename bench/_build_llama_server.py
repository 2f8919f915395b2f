"""Build llama.cpp's C++ server (`llama-server`) from the llama.cpp sources that the installed
llama-cpp-python vendors, once, into the data directory: the baseline bench/serving.py runs
beside our server has the same kernels as our engine.

    .venv/bin/python bench/_build_llama_server.py          # prints the binary's path
    make llama-server                                     # the same

The sources come from PyPI (llama-cpp-python's sdist, `pip download`, cached by pip); the
build needs cmake and a C++ compiler (ninja if present) and takes about 6 minutes on 2 cores.
It is built for this CPU (GGML_NATIVE) with AMX off: llama.cpp's AMX path crashes on CPUs
that advertise AMX without the kernel's permission to use it, and our engine does not use
it either (use_extra_bufts = False). A finished build is found and reused:

    <data dir>/llama-server/<llama-cpp-python version>/build/bin/llama-server
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def data_dir() -> Path:
    configured = os.environ.get("VERTEXCOMPAT_DATA_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("vertexcompat"))


def llama_cpp_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def build_root(version: str | None = None) -> Path:
    return data_dir() / "llama-server" / (version or llama_cpp_version())


def binary_path(version: str | None = None) -> Path:
    return build_root(version) / "build" / "bin" / "llama-server"


def find_binary() -> Path | None:
    """The llama-server to benchmark against: $VERTEXCOMPAT_LLAMA_SERVER, else our build of
    the vendored sources, else None."""
    configured = os.environ.get("VERTEXCOMPAT_LLAMA_SERVER")
    if configured:
        return Path(configured)
    path = binary_path()
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _sources(root: Path, version: str) -> Path:
    """vendor/llama.cpp of llama-cpp-python's sdist, unpacked under `root`."""
    src = root / "src"
    marker = src / "CMakeLists.txt"
    if marker.is_file():
        return src
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
             "--quiet", "-d", tmp, f"llama-cpp-python=={version}"],
            check=True,
        )
        archives = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if not archives:
            raise SystemExit(f"pip download gave no llama-cpp-python {version} sdist")
        prefix = f"{archives[0].name[: -len('.tar.gz')]}/vendor/llama.cpp/"
        staging = Path(tmp) / "llama.cpp"
        with tarfile.open(archives[0]) as tar:
            for member in tar.getmembers():
                if not member.name.startswith(prefix) or member.name == prefix:
                    continue
                member.name = member.name[len(prefix):]
                tar.extract(member, staging, filter="data")
        if not (staging / "CMakeLists.txt").is_file():
            raise SystemExit("the sdist holds no vendor/llama.cpp")
        if src.exists():
            shutil.rmtree(src)
        staging.rename(src)
    return src


def build(jobs: int | None = None) -> Path:
    version = llama_cpp_version()
    root = build_root(version)
    binary = binary_path(version)
    if binary.is_file():
        return binary
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise SystemExit(f"building llama-server needs {tool} (Debian: apt-get install "
                             "cmake g++ ninja-build)")
    root.mkdir(parents=True, exist_ok=True)
    src = _sources(root, version)
    out = root / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    print(f"building llama-server (llama.cpp vendored by llama-cpp-python {version}) in {out};"
          " about 6 minutes on 2 cores", file=sys.stderr, flush=True)
    subprocess.run(
        ["cmake", "-S", str(src), "-B", str(out), *generator, "-DCMAKE_BUILD_TYPE=Release",
         "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
         "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON",
         # one self-contained binary: no shared libraries to find at run time
         "-DBUILD_SHARED_LIBS=OFF",
         f"-DCMAKE_C_FLAGS={NO_AMX}", f"-DCMAKE_CXX_FLAGS={NO_AMX}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        ["cmake", "--build", str(out), "--target", "llama-server", "-j",
         str(jobs or os.cpu_count() or 1)],
        check=True,
    )
    if not binary.is_file():
        raise SystemExit(f"the build finished without {binary}")
    return binary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, help="parallel compile jobs (default: all cores)")
    p.add_argument("--print-path", action="store_true",
                   help="print where the binary is or would be, and build nothing")
    args = p.parse_args(argv)
    if args.print_path:
        print(binary_path())
        return 0
    print(build(args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
