"""The llama-cpp-python the project installs (native/install_llama_cpp.py) carries our
matrix kernels (native/vc_gemm.h): they are in use wherever the CPU can run them, and they
give llama.cpp's own kernels' numbers bit for bit, on the prefill path and the decode path,
on the default model (Q5_0 and Q8_0 tensors: vc_q0_gemm.h; Q4_K / Q6_K down projections in
calls of fewer than 8 rows: vc_k_gemm.h).

The logits come from bench/kernels.py's child (`--repeats 0`: no timing), in a process of
its own per kernel choice (VERTEXCOMPAT_KERNELS is read once per process): 8 prompts of 200
tokens, each decoded in one call, then decode steps of 1, 2, 4 and 8 sequences."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import DEFAULT_MODEL
from vertexcompat.engine.model_files import ModelCatalog

BENCH = Path(__file__).resolve().parents[2] / "bench" / "kernels.py"
NEEDS = {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "f16c", "fma"}


def cpu_can_run_it() -> bool:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return NEEDS <= set(line.split(":", 1)[1].split())
    return False


@pytest.fixture(scope="module")
def default_model(data_dir: Path) -> Path:
    return ModelCatalog(data_dir, progress=False).resolve(DEFAULT_MODEL).path


def logits(model: Path, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--child", str(model), "--threads", "1", "--repeats", "0"],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_kernels_are_in_use_exactly_where_the_cpu_can_run_them():
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    assert ("VC_GEMM = 1" in info) == cpu_can_run_it(), info


def test_the_kernels_give_llama_cpps_numbers_bit_for_bit(default_model):
    ours = logits(default_model)
    stock = logits(default_model, VERTEXCOMPAT_KERNELS="stock")
    # the switch really switched: the comparison is between two sets of kernels here
    assert ours["kernel"] == cpu_can_run_it()
    assert stock["kernel"] is False
    assert ours["digest"] == stock["digest"]
