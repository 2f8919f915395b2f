"""Run by tests/e2e/test_kernels.py in a process of its own (the kernel switch,
VERTEXCOMPAT_KERNELS, is read once per process): decodes a model the way the engine does
(one KV stream per sequence, flash attention off, 1 thread) and prints, as JSON, whether
llama.cpp's CPU backend lists our kernel and a digest of every logit it produced.

    python tests/e2e/_kernel_digest.py MODEL.gguf

Three sequences' prompts (60 tokens each) are decoded in one call (180 rows: the prefill
path), then one decode step of one sequence, then one of all three (the decode path)."""

import hashlib
import json
import sys

import llama_cpp
import numpy as np


def main(path: str) -> None:
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.use_extra_bufts = False
    model = llama_cpp.llama_model_load_from_file(path.encode(), mparams)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = 3 * 128, 256, 256
    cparams.n_seq_max, cparams.n_threads, cparams.n_threads_batch = 3, 1, 1
    cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    cparams.kv_unified = False
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    batch = llama_cpp.llama_batch_init(256, 0, 1)
    digest = hashlib.sha256()
    firsts = []

    def decode(rows: list[tuple[int, int, int, bool]]) -> None:
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(rows)
        assert llama_cpp.llama_decode(ctx, batch) == 0
        for i, row in enumerate(rows):
            if row[3]:
                out = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,))
                digest.update(out.tobytes())
                firsts.append(int(out.argmax()))

    prompt = 60
    decode([(100 + (i * (seq + 3)) % 700, i, seq, True) for seq in range(3) for i in range(prompt)])
    decode([(321, prompt, 0, True)])
    decode([(400 + seq, prompt + 1 - (seq > 0), seq, True) for seq in range(3)])
    info = llama_cpp.llama_print_system_info().decode()
    print(json.dumps({"kernel": "VC_GEMM = 1" in info, "digest": digest.hexdigest(),
                      "argmax": firsts[-3:]}))


if __name__ == "__main__":
    main(sys.argv[1])
