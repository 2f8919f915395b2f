"""Compile vertexcompat's matrix kernels (native/vc_gemm.h with vc_q0_gemm.h and
vc_k_gemm.h) into a llama.cpp source tree.

    python native/patch_llama_cpp.py LLAMA_CPP_DIR

LLAMA_CPP_DIR is llama.cpp's root (in llama-cpp-python's sdist: vendor/llama.cpp). The
patch copies the headers into ggml's CPU backend and makes four insertions, each at a
place found by its exact text (a tree where one is missing or found twice is refused, so
a new llama.cpp version fails loudly here, never silently without the kernels):

* ggml-cpu.c includes vc_gemm.h;
* ggml_compute_forward_mul_mat hands a 2-D product to `vc_gemm` once its activations are
  quantized, before llamafile's kernels or llama.cpp's per-pair dot products would take
  it (vc_gemm says which weight types it computes; llama.cpp's tiled K-quant kernels, which
  run first, keep theirs);
* ggml-cpu.cpp declares `vc_gemm_enabled` and lists the feature `VC_GEMM = 1`
  (llama_print_system_info) when the kernels are compiled in and on, so a running engine
  can say which it uses.

Applying it twice changes nothing. Standard library only: it runs before the project is
installed (native/install_llama_cpp.py).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HEADERS = tuple(Path(__file__).with_name(name)
                for name in ("vc_gemm.h", "vc_q0_gemm.h", "vc_k_gemm.h"))
MARK = "vertexcompat: vc_gemm"

_INCLUDE_AT = '#ifdef GGML_USE_LLAMAFILE\n#include "llamafile/sgemm.h"\n#endif\n'
_INCLUDE = f'\n// {MARK}\n#include "vc_gemm.h"\n'

_HOOK_AT = """#if GGML_USE_LLAMAFILE
    if (src1->type != vec_dot_type) {
        const void* wdata = (src1->type == vec_dot_type) ? src1->data : params->wdata;
"""
_HOOK = f"""    // {MARK}: a 2-D product whose activations were just quantized (in wdata)
    if (src1->type != vec_dot_type && ne02 == 1 && ne03 == 1 && ne12 == 1 && ne13 == 1 &&
        vc_gemm(params, src0->type, ne01, ne11, ne00, src0->data, nb01, params->wdata,
                ggml_row_size(vec_dot_type, ne10), (float *) dst->data, nb1 / sizeof(float))) {{
        return;
    }}

"""

_FEATURE_AT = """        if (ggml_cpu_has_llamafile()) {
            features.push_back({ "LLAMAFILE", "1" });
        }
"""
_FEATURE = f"""        // {MARK}
        if (vc_gemm_enabled()) {{
            features.push_back({{ "VC_GEMM", "1" }});
        }}
"""
_DECLARE_AT = "static ggml_backend_feature * ggml_backend_cpu_get_features(ggml_backend_reg_t reg) {\n"
_DECLARE = f'// {MARK} (vc_gemm.h, compiled with ggml-cpu.c)\nextern "C" int vc_gemm_enabled(void);\n\n'


def fingerprint() -> bytes:
    """What a build with this patch compiles: the headers and every insertion (not this
    file's prose), for install_llama_cpp.py's cache key."""
    parts = (*(h.read_bytes() for h in HEADERS), _INCLUDE_AT, _INCLUDE, _HOOK_AT, _HOOK,
             _FEATURE_AT, _FEATURE, _DECLARE_AT, _DECLARE)
    return b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts)


class PatchError(Exception):
    """The tree is not one this patch knows."""


def _insert(text: str, anchor: str, addition: str, *, before: bool, where: str) -> str:
    found = text.count(anchor)
    if found != 1:
        raise PatchError(f"{where}: expected the anchor once, found it {found} times:\n{anchor}")
    at = text.index(anchor) + (0 if before else len(anchor))
    return text[:at] + addition + text[at:]


def _copy_headers(cpu: Path) -> None:
    for header in HEADERS:
        shutil.copyfile(header, cpu / header.name)


def patch(root: Path) -> bool:
    """Patch the tree at `root`; False when it already was."""
    cpu = root / "ggml" / "src" / "ggml-cpu"
    c_file, cpp_file = cpu / "ggml-cpu.c", cpu / "ggml-cpu.cpp"
    for path in (c_file, cpp_file):
        if not path.is_file():
            raise PatchError(f"{path} is missing: not a llama.cpp tree")
    c_text, cpp_text = c_file.read_text(), cpp_file.read_text()
    if MARK in c_text and MARK in cpp_text:
        _copy_headers(cpu)
        return False
    if MARK in c_text or MARK in cpp_text:
        raise PatchError(f"{cpu} is half patched; start from fresh sources")
    c_text = _insert(c_text, _INCLUDE_AT, _INCLUDE, before=False, where=str(c_file))
    c_text = _insert(c_text, _HOOK_AT, _HOOK, before=True, where=str(c_file))
    cpp_text = _insert(cpp_text, _DECLARE_AT, _DECLARE, before=True, where=str(cpp_file))
    cpp_text = _insert(cpp_text, _FEATURE_AT, _FEATURE, before=False, where=str(cpp_file))
    _copy_headers(cpu)
    c_file.write_text(c_text)
    cpp_file.write_text(cpp_text)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        changed = patch(Path(argv[0]))
    except PatchError as e:
        print(f"patch_llama_cpp: {e}", file=sys.stderr)
        return 1
    print("patched" if changed else "already patched")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
