// vertexcompat: Q4_K / Q6_K weights x Q8_K activations for a few columns (included by
// vc_gemm.h, which says what the kernels do and guarantee).
//
// llama.cpp takes products of 8 or more columns to its tiled kernels; below that it calls
// ggml_vec_dot_q4_K_q8_K / ggml_vec_dot_q6_K_q8_K once per (row, column). Here a
// super-block of 256 weights is unpacked once and each 32-weight chunk is multiplied with
// two columns at a time (the columns in the two halves of a 512-bit register): one
// multiply-add of byte pairs and one VNNI multiply-accumulate by the chunk's scale.
//
// Bit-identical to those two functions: per column the same eight int32 lanes (exact integer
// sums of the same products), the same fp32 super-block scales, one fused multiply-add per
// super-block in order, the same horizontal sums (and for Q4_K the same four-lane sum of
// the min corrections, added last).
#pragma once

// Two columns' data for one super-block: their quants chunk by chunk side by side, their
// 16-quant sums, their scales.
typedef struct {
    int8_t  q[8][64];   // chunk u: column A's quants 32u..32u+31, then column B's
    int16_t bsums[32];  // A's 16 sums of 16 quants, then B's (Q6_K)
    int16_t q8s[16];    // A's 8 sums of 32 quants (pairs of bsums), then B's (Q4_K)
    float   d[16];      // A's scale x 8, B's x 8
    float   negd[8];    // -A's scale x 4, -B's x 4 (Q4_K mins)
} vc_kpair;

static _Thread_local vc_scratch vc_k_scratch;

// Packs the n columns of B as (n + 1) / 2 pairs per super-block (a missing second column
// is zero).
static void vc_kpack(vc_kpair * out, const void * B, size_t ldb_bytes, int64_t nb, int64_t n) {
    const int P = (int) ((n + 1) / 2);
    for (int64_t i = 0; i < nb; ++i) {
        for (int p = 0; p < P; ++p) {
            vc_kpair * pk = out + i * P + p;
            if (2 * p + 1 >= n) {
                memset(pk, 0, sizeof(*pk));
            }
            for (int h = 0; h < 2 && 2 * p + h < n; ++h) {
                const int64_t c = 2 * p + h;
                const block_q8_K * y = (const block_q8_K *) ((const char *) B + c * ldb_bytes) + i;
                for (int u = 0; u < 8; ++u) memcpy(pk->q[u] + 32 * h, y->qs + 32 * u, 32);
                memcpy(pk->bsums + 16 * h, y->bsums, 32);
                for (int k = 0; k < 8; ++k) {
                    pk->q8s[8 * h + k] = (int16_t) (y->bsums[2 * k] + y->bsums[2 * k + 1]);
                }
                for (int k = 0; k < 8; ++k) pk->d[8 * h + k] = y->d;
                for (int k = 0; k < 4; ++k) pk->negd[4 * h + k] = -y->d;
            }
        }
    }
}

#define VC_Q4K_ROWS(P)                                                                    \
    for (int64_t r = r0; r < r1; ++r) {                                                   \
        const block_q4_K * x = (const block_q4_K *) ((const char *) A + r * lda_bytes);   \
        __m512 acc[P];                                                                    \
        __m256 accm[P];                                                                   \
        for (int p = 0; p < P; ++p) { acc[p] = _mm512_setzero_ps(); accm[p] = _mm256_setzero_ps(); } \
        for (int64_t i = 0; i < nb; ++i) {                                                \
            uint32_t utmp[4];                                                             \
            memcpy(utmp, x[i].scales, 12);                                                \
            utmp[3] = ((utmp[2] >> 4) & 0x0f0f0f0f) | (((utmp[1] >> 6) & 0x03030303) << 4); \
            const uint32_t uaux = utmp[1] & 0x3f3f3f3f;                                   \
            utmp[1] = (utmp[2] & 0x0f0f0f0f) | (((utmp[0] >> 6) & 0x03030303) << 4);      \
            utmp[2] = uaux;                                                               \
            utmp[0] &= 0x3f3f3f3f;                                                        \
            const uint8_t * sc = (const uint8_t *) utmp;                                  \
            const __m256i mins = _mm256_broadcastsi128_si256(                             \
                _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *) (sc + 8))));         \
            __m512i w[8];                                                                 \
            for (int j = 0; j < 4; ++j) {                                                 \
                const __m256i bits = _mm256_loadu_si256((const __m256i *) (x[i].qs + 32 * j)); \
                w[2 * j] = _mm512_broadcast_i64x4(_mm256_and_si256(bits, _mm256_set1_epi8(0x0F))); \
                w[2 * j + 1] = _mm512_broadcast_i64x4(                                    \
                    _mm256_and_si256(_mm256_srli_epi16(bits, 4), _mm256_set1_epi8(0x0F))); \
            }                                                                             \
            const __m512 dx = _mm512_set1_ps(GGML_CPU_FP16_TO_FP32(x[i].d));              \
            const __m256 dmx = _mm256_set1_ps(GGML_CPU_FP16_TO_FP32(x[i].dmin));          \
            const vc_kpair * pk = packed + i * P;                                           \
            for (int p = 0; p < P; ++p) {                                                 \
                __m512i sumi = _mm512_setzero_si512();                                    \
                for (int u = 0; u < 8; ++u) {                                             \
                    const __m512i pairs = _mm512_maddubs_epi16(w[u], _mm512_loadu_si512(pk[p].q[u])); \
                    sumi = _mm512_dpwssd_epi32(sumi, pairs, _mm512_set1_epi16((short) sc[u])); \
                }                                                                         \
                acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_loadu_ps(pk[p].d)),     \
                                         _mm512_cvtepi32_ps(sumi), acc[p]);               \
                const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *) pk[p].q8s)); \
                accm[p] = _mm256_fmadd_ps(_mm256_mul_ps(dmx, _mm256_loadu_ps(pk[p].negd)), \
                                          _mm256_cvtepi32_ps(prod), accm[p]);             \
            }                                                                             \
        }                                                                                 \
        for (int p = 0; p < P; ++p) {                                                     \
            float mins_sum[8];                                                            \
            _mm256_storeu_ps(mins_sum, accm[p]);                                          \
            vc_store_pair(C, ldc, r, 2 * p, n, acc[p], mins_sum);                         \
        }                                                                                 \
    }

#define VC_Q6K_ROWS(P)                                                                    \
    for (int64_t r = r0; r < r1; ++r) {                                                   \
        const block_q6_K * x = (const block_q6_K *) ((const char *) A + r * lda_bytes);   \
        __m512 acc[P];                                                                    \
        for (int p = 0; p < P; ++p) acc[p] = _mm512_setzero_ps();                         \
        for (int64_t i = 0; i < nb; ++i) {                                                \
            __m512i w[8];                                                                 \
            for (int j = 0; j < 2; ++j) {                                                 \
                const __m256i b1 = _mm256_loadu_si256((const __m256i *) (x[i].ql + 64 * j)); \
                const __m256i b2 = _mm256_loadu_si256((const __m256i *) (x[i].ql + 64 * j + 32)); \
                const __m256i bh = _mm256_loadu_si256((const __m256i *) (x[i].qh + 32 * j)); \
                const __m256i m15 = _mm256_set1_epi8(15);                                 \
                const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(3)), 4); \
                const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(12)), 2); \
                const __m256i h2 = _mm256_and_si256(bh, _mm256_set1_epi8(48));            \
                const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(-64)), 2); \
                w[4 * j + 0] = _mm512_broadcast_i64x4(_mm256_or_si256(_mm256_and_si256(b1, m15), h0)); \
                w[4 * j + 1] = _mm512_broadcast_i64x4(_mm256_or_si256(_mm256_and_si256(b2, m15), h1)); \
                w[4 * j + 2] = _mm512_broadcast_i64x4(                                    \
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m15), h2)); \
                w[4 * j + 3] = _mm512_broadcast_i64x4(                                    \
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m15), h3)); \
            }                                                                             \
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) x[i].scales)); \
            const __m512i sc16x2 = _mm512_broadcast_i64x4(sc16);                          \
            int16_t scv[16];                                                              \
            _mm256_storeu_si256((__m256i *) scv, sc16);                                   \
            __m512i scale[8];                                                             \
            for (int v = 0; v < 8; ++v) {                                                 \
                const __m256i half = _mm256_set_m128i(_mm_set1_epi16(scv[2 * v + 1]),    \
                                                      _mm_set1_epi16(scv[2 * v]));        \
                scale[v] = _mm512_broadcast_i64x4(half);                                  \
            }                                                                             \
            const __m512 dx = _mm512_set1_ps(GGML_CPU_FP16_TO_FP32(x[i].d));              \
            const vc_kpair * pk = packed + i * P;                                           \
            for (int p = 0; p < P; ++p) {                                                 \
                __m512i sumi = _mm512_setzero_si512();                                    \
                for (int v = 0; v < 8; ++v) {                                             \
                    const __m512i pairs = _mm512_maddubs_epi16(w[v], _mm512_loadu_si512(pk[p].q[v])); \
                    sumi = _mm512_dpwssd_epi32(sumi, pairs, scale[v]);                    \
                }                                                                         \
                const __m512i corr = _mm512_slli_epi32(                                   \
                    _mm512_madd_epi16(_mm512_loadu_si512(pk[p].bsums), sc16x2), 5);       \
                sumi = _mm512_sub_epi32(sumi, corr);                                      \
                acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_loadu_ps(pk[p].d)),     \
                                         _mm512_cvtepi32_ps(sumi), acc[p]);               \
            }                                                                             \
        }                                                                                 \
        for (int p = 0; p < P; ++p) vc_store_pair(C, ldc, r, 2 * p, n, acc[p], NULL);    \
    }

#define VC_K_DISPATCH(ROWS)                                                               \
    switch (P) {                                                                          \
        case 1: { ROWS(1) } break;                                                        \
        case 2: { ROWS(2) } break;                                                        \
        case 3: { ROWS(3) } break;                                                        \
        case 4: { ROWS(4) } break;                                                        \
    }

// vc_gemm for Q4_K / Q6_K rows of nb super-blocks (B: Q8_K rows), at most 8 columns (more:
// false, the per-pair dot products compute it; it happens only with the tiled kernels off).
static bool vc_gemm_k(const struct ggml_compute_params * params, enum ggml_type atype,
                      int64_t m, int64_t n, int64_t nb,
                      const void * A, size_t lda_bytes, const void * B, size_t ldb_bytes,
                      float * C, int64_t ldc) {
    if (n > 8) {
        return false;
    }
    const int P = (int) ((n + 1) / 2);
    vc_kpair * packed = (vc_kpair *) vc_reserve(&vc_k_scratch, (size_t) (nb * P) * sizeof(vc_kpair));
    if (packed == NULL) {
        return false;
    }
    vc_kpack(packed, B, ldb_bytes, nb, n);
    const int64_t r0 = m * params->ith / params->nth;
    const int64_t r1 = m * (params->ith + 1) / params->nth;
    if (atype == GGML_TYPE_Q4_K) {
        VC_K_DISPATCH(VC_Q4K_ROWS)
    } else {
        VC_K_DISPATCH(VC_Q6K_ROWS)
    }
    return true;
}
