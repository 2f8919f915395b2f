"""Make llama-cpp-python's high-level API load models with `use_extra_bufts = False`.

This CPU advertises AMX and llama.cpp's extra-buffer (weight repacking / AMX) path segfaults
on the first real prompt. vertexcompat's engine sets the flag itself; `llama_cpp.Llama` does
not expose it but builds its model params from `llama_cpp.llama_cpp.llama_model_default_params()`
at call time, so wrapping that function is enough. Idempotent.
"""

from __future__ import annotations

import llama_cpp.llama_cpp as _lc


def patch() -> None:
    if getattr(_lc.llama_model_default_params, "_vertexcompat_patched", False):
        return
    original = _lc.llama_model_default_params

    def llama_model_default_params():  # type: ignore[no-untyped-def]
        params = original()
        params.use_extra_bufts = False
        return params

    llama_model_default_params._vertexcompat_patched = True  # type: ignore[attr-defined]
    _lc.llama_model_default_params = llama_model_default_params
    # `import llama_cpp` re-exports the low-level names; keep both views consistent.
    import llama_cpp

    llama_cpp.llama_model_default_params = llama_model_default_params
