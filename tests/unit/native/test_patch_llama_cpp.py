"""native/patch_llama_cpp.py on a tree holding just the text it anchors to (the real
llama.cpp sources are patched and compiled by native/install_llama_cpp.py; the e2e test
tests/e2e/test_kernels.py checks that build). Also: install_llama_cpp's cache key and
pinned version."""

import importlib.util
import sys
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[3] / "native"


def load(name: str):
    sys.path.insert(0, str(NATIVE))
    try:
        spec = importlib.util.spec_from_file_location(name, NATIVE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(NATIVE))


patcher = load("patch_llama_cpp")
installer = load("install_llama_cpp")

C_TEXT = (
    "#include <stdio.h>\n"
    + patcher._INCLUDE_AT
    + "#ifdef GGML_USE_CPU_RISCV64_SPACEMIT\n#endif\n"
    + "void mul_mat(void) {\n"
    + patcher._HOOK_AT
    + "    }\n#endif\n}\n"
)
CPP_TEXT = patcher._DECLARE_AT + patcher._FEATURE_AT + "    return 0;\n}\n"


def tree(tmp_path: Path, c_text: str = C_TEXT, cpp_text: str = CPP_TEXT) -> Path:
    cpu = tmp_path / "ggml" / "src" / "ggml-cpu"
    cpu.mkdir(parents=True)
    (cpu / "ggml-cpu.c").write_text(c_text)
    (cpu / "ggml-cpu.cpp").write_text(cpp_text)
    return tmp_path


def test_the_patch_adds_the_header_the_hook_and_the_feature_once(tmp_path):
    root = tree(tmp_path)
    assert patcher.patch(root) is True
    cpu = root / "ggml" / "src" / "ggml-cpu"
    c_text, cpp_text = (cpu / "ggml-cpu.c").read_text(), (cpu / "ggml-cpu.cpp").read_text()
    for header in ("vc_gemm.h", "vc_q0_gemm.h", "vc_k_gemm.h"):
        assert (cpu / header).read_bytes() == (NATIVE / header).read_bytes()
    entry = (cpu / "vc_gemm.h").read_text()
    assert '#include "vc_q0_gemm.h"' in entry and '#include "vc_k_gemm.h"' in entry
    # the include after llamafile's, the hook before llamafile's quantized-activation branch
    assert c_text.index('#include "vc_gemm.h"') > c_text.index('#include "llamafile/sgemm.h"')
    assert c_text.count("vc_gemm(params") == 1
    assert c_text.index("vc_gemm(params") < c_text.index(patcher._HOOK_AT)
    assert cpp_text.index('extern "C" int vc_gemm_enabled') < cpp_text.index(patcher._DECLARE_AT)
    assert cpp_text.index('"VC_GEMM"') > cpp_text.index('"LLAMAFILE"')

    assert patcher.patch(root) is False
    assert (cpu / "ggml-cpu.c").read_text() == c_text
    assert (cpu / "ggml-cpu.cpp").read_text() == cpp_text


@pytest.mark.parametrize("broken", ["missing", "twice"])
def test_a_tree_the_patch_does_not_know_is_refused_untouched(tmp_path, broken):
    c_text = C_TEXT.replace(patcher._HOOK_AT, "" if broken == "missing" else patcher._HOOK_AT * 2)
    root = tree(tmp_path, c_text=c_text)
    with pytest.raises(patcher.PatchError, match="expected the anchor once"):
        patcher.patch(root)
    assert (root / "ggml" / "src" / "ggml-cpu" / "ggml-cpu.c").read_text() == c_text
    assert not list((root / "ggml" / "src" / "ggml-cpu").glob("*.h"))


def test_a_half_patched_tree_is_refused(tmp_path):
    root = tree(tmp_path, c_text=C_TEXT + f"// {patcher.MARK}\n")
    with pytest.raises(patcher.PatchError, match="half patched"):
        patcher.patch(root)


def test_the_command_line_says_what_it_did(tmp_path, capsys):
    root = tree(tmp_path)
    assert patcher.main([str(root)]) == 0
    assert patcher.main([str(root)]) == 0
    assert capsys.readouterr().out.split() == ["patched", "already", "patched"]
    assert patcher.main([str(tmp_path / "nowhere")]) == 1
    assert "not a llama.cpp tree" in capsys.readouterr().err


def test_the_installed_llama_cpp_python_is_the_pinned_version():
    from importlib.metadata import version

    assert version("llama-cpp-python") == installer.pinned_version()


def test_the_cache_key_follows_the_kernel_the_flags_and_the_cpu(monkeypatch):
    key = installer.build_key("0.3.36")
    assert installer.build_key("0.3.36") == key
    assert installer.build_key("0.3.37") != key
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_NATIVE=OFF")
    assert installer.build_key("0.3.36") != key
    monkeypatch.delenv("CMAKE_ARGS")
    monkeypatch.setattr(installer, "cpu_flags", lambda: "sse2")
    assert installer.build_key("0.3.36") != key
    monkeypatch.undo()
    monkeypatch.setattr(installer, "fingerprint", lambda: b"another kernel")
    assert installer.build_key("0.3.36") != key


def test_the_data_dir_is_the_servers(monkeypatch, tmp_path):
    monkeypatch.setenv("VERTEXCOMPAT_DATA_DIR", str(tmp_path))
    assert installer.wheel_dir("0.3.36").parent == tmp_path / "llama-cpp-python"
    monkeypatch.delenv("VERTEXCOMPAT_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert installer.data_dir() == tmp_path / "xdg" / "vertexcompat"


def test_without_settings_the_wheel_is_kept_where_the_server_keeps_its_models(monkeypatch):
    from vertexcompat.config import _default_data_dir

    monkeypatch.delenv("VERTEXCOMPAT_DATA_DIR", raising=False)
    assert installer.data_dir() == _default_data_dir()
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/else")
    assert installer.data_dir() == _default_data_dir()
