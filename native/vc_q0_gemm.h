// vertexcompat: Q8_0 / Q5_0 weights x Q8_0 activations (included by vc_gemm.h, which says
// what the kernels do and guarantee).
//
// A weight block is unpacked once as unsigned bytes (value plus zero point: 128 for Q8_0,
// 16 for Q5_0), broadcast to both halves of a 512-bit register and multiplied with two
// columns in one VNNI instruction; the zero point's share comes out of the integer sum
// through a per-column correction computed once per call.
#pragma once

#define VC_MAX_COLS 16
#define VC_MAX_PAIRS (VC_MAX_COLS / 2)
#define VC_ROW_TILE 16

// One column pair's data for one block: both columns' 32 quants side by side, the integer
// correction (-zero_point x the sum of each lane's four quants) and the columns' scales.
typedef struct {
    int8_t  q[64];
    int32_t corr[16];
    float   d[16];
} vc_pair_block;

static _Thread_local vc_scratch vc_q0_scratch;

// Column pairs in the group of columns starting at c0 (the last one may hold one column).
static inline int vc_pairs(int64_t n, int64_t c0) {
    return (int) ((MIN(n - c0, VC_MAX_COLS) + 1) / 2);
}

// Unpacked weight block as unsigned bytes (value + zero point), broadcast to both halves.
static inline __m512i vc_unpack_q8_0(const block_q8_0 * x) {
    const __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *) x->qs));
    return _mm512_xor_si512(w, _mm512_set1_epi8((char) 0x80));
}

static inline __m512i vc_unpack_q5_0(const block_q5_0 * x) {
    const __m128i nib = _mm_loadu_si128((const __m128i *) x->qs);
    __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(nib), _mm_srli_epi16(nib, 4), 1);
    q = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
    uint32_t qh;
    memcpy(&qh, x->qh, sizeof(qh));
    q = _mm256_mask_add_epi8(q, (__mmask32) qh, q, _mm256_set1_epi8(0x10));
    return _mm512_broadcast_i64x4(q);
}

// Rows [rs, re) of C (column stride ldc) against one group of P column pairs packed at
// pg (block b's pairs at pg + b * P), the group's first column being c0.
#define VC_ROWS(TYPE, UNPACK, P)                                                          \
    for (int64_t r = rs; r < re; ++r) {                                                   \
        const TYPE * x = (const TYPE *) ((const char *) A + r * lda_bytes);               \
        __m512 acc[P];                                                                    \
        for (int p = 0; p < P; ++p) acc[p] = _mm512_setzero_ps();                         \
        for (int64_t b = 0; b < nb; ++b) {                                                \
            const __m512i w = UNPACK(x + b);                                              \
            const __m512 dA = _mm512_set1_ps(GGML_CPU_FP16_TO_FP32(x[b].d));              \
            const vc_pair_block * pb = pg + b * P;                                        \
            for (int p = 0; p < P; ++p) {                                                 \
                const __m512i s = _mm512_dpbusd_epi32(_mm512_loadu_si512(pb[p].corr), w,  \
                                                      _mm512_loadu_si512(pb[p].q));       \
                const __m512 d = _mm512_mul_ps(dA, _mm512_loadu_ps(pb[p].d));             \
                acc[p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc[p]);               \
            }                                                                             \
        }                                                                                 \
        for (int p = 0; p < P; ++p) vc_store_pair(C, ldc, r, c0 + 2 * p, n, acc[p], NULL); \
    }

#define VC_DISPATCH(TYPE, UNPACK)                                                         \
    switch (P) {                                                                          \
        case 1: { VC_ROWS(TYPE, UNPACK, 1) } break;                                       \
        case 2: { VC_ROWS(TYPE, UNPACK, 2) } break;                                       \
        case 3: { VC_ROWS(TYPE, UNPACK, 3) } break;                                       \
        case 4: { VC_ROWS(TYPE, UNPACK, 4) } break;                                       \
        case 5: { VC_ROWS(TYPE, UNPACK, 5) } break;                                       \
        case 6: { VC_ROWS(TYPE, UNPACK, 6) } break;                                       \
        case 7: { VC_ROWS(TYPE, UNPACK, 7) } break;                                       \
        case 8: { VC_ROWS(TYPE, UNPACK, 8) } break;                                       \
    }

// Packs columns [c0, c0 + 2P) of B (Q8_0 rows of nb blocks, ldb_bytes apart; columns at
// or past n are zero) as P pairs per block.
static void vc_pack(vc_pair_block * pg, const void * B, size_t ldb_bytes, int64_t nb,
                    int64_t c0, int P, int64_t n, int32_t zero_point) {
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < nb; ++b) {
        for (int p = 0; p < P; ++p) {
            vc_pair_block * pb = pg + b * P + p;
            for (int h = 0; h < 2; ++h) {
                const int64_t c = c0 + 2 * p + h;
                __m256i q = _mm256_setzero_si256();
                float d = 0.0f;
                if (c < n) {
                    const block_q8_0 * y = (const block_q8_0 *) ((const char *) B + c * ldb_bytes) + b;
                    q = _mm256_loadu_si256((const __m256i *) y->qs);
                    d = GGML_CPU_FP16_TO_FP32(y->d);
                }
                _mm256_storeu_si256((__m256i *) (pb->q + 32 * h), q);
                const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q);
                _mm256_storeu_si256((__m256i *) (pb->corr + 8 * h),
                                    _mm256_mullo_epi32(sums, _mm256_set1_epi32(-zero_point)));
                _mm256_storeu_ps(pb->d + 8 * h, _mm256_set1_ps(d));
            }
        }
    }
}

// vc_gemm for Q8_0 / Q5_0 rows of nb blocks (B: Q8_0 rows), 16 columns at a time.
static bool vc_gemm_q0(const struct ggml_compute_params * params, enum ggml_type atype,
                       int64_t m, int64_t n, int64_t nb,
                       const void * A, size_t lda_bytes, const void * B, size_t ldb_bytes,
                       float * C, int64_t ldc) {
    const int64_t groups = (n + VC_MAX_COLS - 1) / VC_MAX_COLS;
    vc_pair_block * buf = (vc_pair_block *) vc_reserve(
        &vc_q0_scratch, (size_t) (groups * VC_MAX_PAIRS * nb) * sizeof(vc_pair_block));
    if (buf == NULL) {
        return false;
    }
    const int32_t zero_point = atype == GGML_TYPE_Q8_0 ? 128 : 16;
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * VC_MAX_COLS;
        vc_pack(buf + g * VC_MAX_PAIRS * nb, B, ldb_bytes, nb, c0, vc_pairs(n, c0), n, zero_point);
    }
    const int64_t r0 = m * params->ith / params->nth;
    const int64_t r1 = m * (params->ith + 1) / params->nth;
    for (int64_t rt = r0; rt < r1; rt += VC_ROW_TILE) {
        const int64_t rs = rt, re = MIN(rt + VC_ROW_TILE, r1);
        for (int64_t g = 0; g < groups; ++g) {
            const int64_t c0 = g * VC_MAX_COLS;
            const int P = vc_pairs(n, c0);
            const vc_pair_block * pg = buf + g * VC_MAX_PAIRS * nb;
            if (atype == GGML_TYPE_Q8_0) {
                VC_DISPATCH(block_q8_0, vc_unpack_q8_0)
            } else {
                VC_DISPATCH(block_q5_0, vc_unpack_q5_0)
            }
        }
    }
    return true;
}
