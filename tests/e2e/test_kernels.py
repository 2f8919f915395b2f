"""The llama-cpp-python the project installs (native/install_llama_cpp.py) carries our
matrix kernel (native/vc_q0_gemm.h): it is in use wherever the CPU can run it, and it gives
llama.cpp's own kernels' numbers bit for bit, on the prefill path and the decode path, on
the default model (whose Q5_0 and Q8_0 tensors it computes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from vertexcompat.engine.model_files import ModelCatalog

DIGEST = Path(__file__).with_name("_kernel_digest.py")
NEEDS = {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "f16c", "fma"}


def cpu_can_run_it() -> bool:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return NEEDS <= set(line.split(":", 1)[1].split())
    return False


@pytest.fixture(scope="module")
def default_model() -> Path:
    data_dir = os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR") or platformdirs.user_cache_dir(
        "vertexcompat-tests"
    )
    return ModelCatalog(Path(data_dir), progress=False).resolve("qwen2.5-coder-0.5b-instruct").path


def digest(model: Path, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(DIGEST), str(model)], capture_output=True, text=True,
        timeout=300, env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_kernel_is_in_use_exactly_where_the_cpu_can_run_it():
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    assert ("VC_GEMM = 1" in info) == cpu_can_run_it(), info


def test_the_kernel_gives_llama_cpps_numbers_bit_for_bit(default_model):
    ours = digest(default_model)
    stock = digest(default_model, VERTEXCOMPAT_KERNELS="stock")
    # the switch really switched: the comparison is between two kernels here
    assert ours["kernel"] == cpu_can_run_it()
    assert stock["kernel"] is False
    assert ours["digest"] == stock["digest"]
    assert ours["argmax"] == stock["argmax"]
