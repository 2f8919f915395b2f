"""Text → token ids with a model's vocabulary (llama.cpp's tokenizer).

`parse_special`: whether the texts of control tokens (`<|im_end|>`) become those tokens.
Only text the engine or the chat template wrote may be tokenized with it on; request text
never is (engine/prompt_text.py)."""

from __future__ import annotations

import llama_cpp


def tokenize(
    vocab: llama_cpp.llama_vocab_p, text: str, *, add_bos: bool = False, parse_special: bool = True
) -> list[int]:
    data = text.encode("utf-8")
    cap = len(data) + 8
    arr = (llama_cpp.llama_token * cap)()
    n = llama_cpp.llama_tokenize(vocab, data, len(data), arr, cap, add_bos, parse_special)
    if n < 0:
        cap = -n
        arr = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), arr, cap, add_bos, parse_special)
    return list(arr[:n])
