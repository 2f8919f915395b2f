"""Run by tests/e2e/test_kernels.py in a process of its own (the kernel switch,
VERTEXCOMPAT_KERNELS, is read once per process): decodes a model the way the engine does
(one KV stream per sequence, flash attention off, 1 thread) and prints, as JSON, whether
llama.cpp's CPU backend lists our kernels, a digest of every logit it produced, and whether
one sequence's next logits are the same computed alone (a 1-row call) and beside nine
others (a 10-row call).

    python tests/e2e/_kernel_digest.py MODEL.gguf

Ten sequences' prompts (20 tokens each) are decoded in one call (200 rows: the prefill
path), then one decode step of one sequence, then one of three, then the first one's step
again beside the nine others (the decode path)."""

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
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = 10 * 64, 256, 256
    cparams.n_seq_max, cparams.n_threads, cparams.n_threads_batch = 10, 1, 1
    cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    cparams.kv_unified = False
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    memory = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(256, 0, 1)
    digest = hashlib.sha256()
    outs: list[np.ndarray] = []

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
                outs.append(out.copy())

    prompt = 20
    decode([(100 + (i * (seq + 3)) % 700, i, seq, True) for seq in range(10) for i in range(prompt)])
    decode([(321, prompt, 0, True)])
    alone = outs[-1]
    decode([(400 + seq, prompt + 1 - (seq > 0), seq, True) for seq in range(3)])
    argmax = [int(o.argmax()) for o in outs[-3:]]
    # sequence 0's step at position `prompt` again, now beside the nine others' steps
    llama_cpp.llama_memory_seq_rm(memory, 0, prompt, -1)
    decode([(321, prompt, 0, True)] + [(500 + seq, prompt + (seq <= 2), seq, True)
                                      for seq in range(1, 10)])
    beside = outs[-10]
    info = llama_cpp.llama_print_system_info().decode()
    print(json.dumps({"kernel": "VC_GEMM = 1" in info, "digest": digest.hexdigest(),
                      "argmax": argmax, "alone_is_beside_nine": bool((alone == beside).all())}))


if __name__ == "__main__":
    main(sys.argv[1])
