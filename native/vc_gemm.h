// vertexcompat's matrix kernels for llama.cpp's CPU backend, on CPUs with AVX-512 VNNI:
// ggml-cpu.c includes this file (native/patch_llama_cpp.py) and hands 2-D products to
// vc_gemm once their activations are quantized.
//
// * vc_q0_gemm.h: Q8_0 / Q5_0 weights x Q8_0 activations, any number of columns;
// * vc_k_gemm.h: Q4_K / Q6_K weights x Q8_K activations, 1 to 8 columns (llama.cpp's tiled
//   kernels take the K-quant products of 8 columns and more before vc_gemm sees them).
//
// A decode step multiplies every weight matrix by a few activation columns, one per
// sequence. llama.cpp computes each (row, column) pair on its own with 256-bit vectors;
// these kernels unpack a block of weights once and multiply it with two columns at a time,
// one in each half of a 512-bit register.
//
// Both are bit-identical to llama.cpp's per-pair dot products (and to llamafile's
// tinyBLAS_Q0_AVX, which computes the same numbers): per (row, column) the same eight lanes,
// the same exact integer lane sums, the same fp32 block-scale products, one fused
// multiply-add per block in block order, the same horizontal sums. So they change no number
// the engine computes.
//
// VERTEXCOMPAT_KERNELS=stock in the environment turns them off (llama.cpp's own kernels).
#pragma once

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && defined(__F16C__) && defined(__FMA__)
#define VC_GEMM 1

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

// 1 unless VERTEXCOMPAT_KERNELS=stock (read once).
static int vc_gemm_on(void) {
    static int on = -1;
    if (on < 0) {
        const char * v = getenv("VERTEXCOMPAT_KERNELS");
        on = !(v != NULL && strcmp(v, "stock") == 0);
    }
    return on;
}

// A thread's scratch buffer, grown as needed, 64-byte aligned.
typedef struct {
    void * p;
    size_t bytes;
} vc_scratch;

// At least `bytes` of the buffer; NULL when memory is short.
static void * vc_reserve(vc_scratch * s, size_t bytes) {
    if (s->bytes < bytes) {
        free(s->p);
        s->p = aligned_alloc(64, (bytes + 63) & ~(size_t) 63);
        s->bytes = s->p != NULL ? bytes : 0;
    }
    return s->p;
}

static inline float vc_hsum8(const float * v) {
    // the order of hsum_float_8: (hi + lo) per 128 bits, then movehl, then movehdup
    float a0 = v[4] + v[0], a1 = v[5] + v[1], a2 = v[6] + v[2], a3 = v[7] + v[3];
    float b0 = a0 + a2, b1 = a1 + a3;
    return b0 + b1;
}

// Row r of columns c and c + 1 (the latter when < n) from a pair's accumulator (eight lanes
// per column), plus, when `extra` is given, each column's four extra lanes summed in the
// order of llama.cpp's Q4_K dot product.
static inline void vc_store_pair(float * C, int64_t ldc, int64_t r, int64_t c, int64_t n,
                                 __m512 acc, const float * extra) {
    float v[16];
    _mm512_storeu_ps(v, acc);
    for (int h = 0; h < 2 && c + h < n; ++h) {
        float s = vc_hsum8(v + 8 * h);
        if (extra != NULL) {
            const float * m = extra + 4 * h;
            s = s + ((m[0] + m[2]) + (m[1] + m[3]));
        }
        C[(c + h) * ldc + r] = s;
    }
}

#include "vc_q0_gemm.h"
#include "vc_k_gemm.h"

// C[c * ldc + r] = row r of A (`atype`, lda_bytes apart) . column c of B (its activations,
// quantized to the type's vec_dot type, ldb_bytes apart), r < m, c < n, k weights a row; this
// thread computes its share of the rows. False: not ours (llama.cpp's kernels compute it).
static bool vc_gemm(const struct ggml_compute_params * params, enum ggml_type atype,
                    int64_t m, int64_t n, int64_t k,
                    const void * A, size_t lda_bytes, const void * B, size_t ldb_bytes,
                    float * C, int64_t ldc) {
    if (params->use_ref || n < 1 || !vc_gemm_on()) {
        return false;
    }
    switch (atype) {
        case GGML_TYPE_Q8_0:
        case GGML_TYPE_Q5_0:
            return vc_gemm_q0(params, atype, m, n, k / QK8_0, A, lda_bytes, B, ldb_bytes, C, ldc);
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q6_K:
            return vc_gemm_k(params, atype, m, n, k / QK_K, A, lda_bytes, B, ldb_bytes, C, ldc);
        default:
            return false;
    }
}

// 1 when the kernels are compiled in and on (the CPU backend's feature VC_GEMM). Defined
// here because ggml-cpu.c, the one file that includes this one, exports it to ggml-cpu.cpp.
int vc_gemm_enabled(void);
int vc_gemm_enabled(void) {
    return vc_gemm_on();
}

#else  // not compiled in: llama.cpp's kernels run as they are

static inline bool vc_gemm(const struct ggml_compute_params * params, enum ggml_type atype,
                           int64_t m, int64_t n, int64_t k, const void * A, size_t lda_bytes,
                           const void * B, size_t ldb_bytes, float * C, int64_t ldc) {
    (void) params; (void) atype; (void) m; (void) n; (void) k; (void) A; (void) lda_bytes;
    (void) B; (void) ldb_bytes; (void) C; (void) ldc;
    return false;
}

int vc_gemm_enabled(void);
int vc_gemm_enabled(void) {
    return 0;
}

#endif
