"""The llama-cpp-python the project installs (native/install_llama_cpp.py) carries our
matrix kernels (native/vc_q0_gemm.h, native/vc_k_gemm.h): they are in use wherever the CPU
can run them, and they give the numbers of llama.cpp's per-pair dot products
(ggml_vec_dot_*) bit for bit, on the prefill path and the decode path, on the default model
(Q5_0 and Q8_0 tensors, and Q4_K / Q6_K down projections). Unlike llama.cpp's tiled K-quant
kernels, which take calls of 8 rows and more, they give a sequence the same logits alone and
beside nine others."""

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


def test_the_kernels_give_llama_cpps_numbers_bit_for_bit(default_model):
    ours = digest(default_model)
    # llama.cpp's own kernels, its per-pair dot products for the K-quants too
    # (GGML_CPU_TILED_MM=0: not its tiled kernels, whose numbers depend on a call's rows)
    stock = digest(default_model, VERTEXCOMPAT_KERNELS="stock", GGML_CPU_TILED_MM="0")
    # the switch really switched: the comparison is between two sets of kernels here
    assert ours["kernel"] == cpu_can_run_it()
    assert stock["kernel"] is False
    assert ours["digest"] == stock["digest"]
    assert ours["argmax"] == stock["argmax"]


def test_a_sequence_gets_the_same_logits_alone_and_beside_nine_others(default_model):
    assert digest(default_model)["alone_is_beside_nine"] is True
