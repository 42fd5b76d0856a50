/*
 * Inference-only bidirectional GRU + linear head for traces.classifier (CPU, fp32).
 *
 * The arithmetic of traces.classifier._bigru_logits_torch as one fused loop per time step,
 * so that a step costs no framework dispatch: the hidden state is carried as
 * g = (h + 1) / 2 and tanh(a) = 2 sigmoid(2a) - 1, with the factors folded into the
 * weights on the Python side (traces.classifier._fold_bigru / _pack_bigru).  Hidden size
 * is fixed at 64 (every shipped configuration); the head has at most 16 states.
 *
 * Several sequences advance together (4 on AVX-512, 2 otherwise) so that each recurrent
 * weight vector loaded from cache feeds one FMA per sequence and their dependency chains
 * overlap.  A sequence's result depends only on its own input (no arithmetic across
 * sequences), so it is identical whatever batch or thread it runs in.  The GIL is
 * released while computing.
 *
 * Portable C with GCC/Clang vector extensions (16-float vectors: one AVX-512 register,
 * two AVX2 ones, four NEON ones).  On x86-64 with GCC the AVX-512 or the AVX2+FMA build is
 * picked at import (__builtin_cpu_supports); both contract a * b + c into FMAs and give
 * bit-identical results.  The generic build (no FMA on baseline x86-64) differs in the
 * last bits (~3e-7 on logits), never between runs on one machine.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HS 64          /* hidden size */
#define G3 (3 * HS)    /* gate columns: r | z | n */
#define KP 16          /* head columns (K <= KP, zero padded) */
#define NV (G3 / 16)   /* 16-float vectors per gate row */
#define MAXRW 4        /* most sequences advanced together */

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
typedef int32_t v16i __attribute__((vector_size(64)));

#define INLINE static inline __attribute__((always_inline))
INLINE v16 vsel(v16i m, v16 a, v16 b) { return (v16)((m & (v16i)a) | (~m & (v16i)b)); }

/* exp(x) for float32: Cephes-style range reduction and degree-6 polynomial (about 1 ulp),
 * clamped to [-87, 88] (sigmoid saturates there anyway). */
INLINE v16 vexp(v16 x) {
    const v16 lo = (v16){} - 87.0f, hi = (v16){} + 88.0f;
    x = vsel(x < lo, lo, x);
    x = vsel(x > hi, hi, x);
    v16 n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* nearest integer */
    v16 r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    v16 p = (v16){} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = (p * r) * r + r + 1.0f;
    v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
    return p * (v16)e;
}

INLINE v16 vsigmoid(v16 x) { return 1.0f / (1.0f + vexp(-x)); }

/* Packed weights of one direction (see _pack_bigru): wx (F x G3), bx (G3), wh (HS x G3),
 * bhn (HS), wo (HS x KP). */
static inline Py_ssize_t dir_size(int F) { return (Py_ssize_t)F * G3 + G3 + HS * G3 + HS + HS * KP; }

/* One direction of RW sequences xs[r] (T x F) -> os[r] (T x K).  The forward direction
 * writes out = head; the reverse one adds its head and the bias bout.  The recurrent
 * matmul runs over NH column blocks of the 3H gate columns so that RW x (NV / NH)
 * accumulators and the NV / NH weight vectors of a row of W_hh stay in registers; a
 * weight vector is loaded once per step for all RW sequences.  RW and NH only change
 * the order of independent operations: every output element is computed the same way. */
INLINE void dir_body(const float *const *xs, float *const *os, Py_ssize_t T, int F, int K,
                     const float *w, const float *bout, int reverse, const int RW, const int NH) {
    const int QB = NV / NH; /* vectors per column block */
    const v16u *Wx = (const v16u *)w;
    const v16u *Bx = Wx + F * NV;
    const v16u *Wh = Bx + NV;
    const v16u *Bhn = Wh + HS * NV;
    const v16u *Wo = Bhn + HS / 16;
    v16 g[MAXRW][HS / 16];
    v16 pre[MAXRW][NV]; /* r | z pre-activations (input, recurrent and biases), then hn */
    v16 gi[MAXRW][HS / 16]; /* n-gate input part */
    float gs[MAXRW][HS] __attribute__((aligned(64)));
    for (int r = 0; r < RW; r++)
        for (int q = 0; q < HS / 16; q++) {
            g[r][q] = (v16){} + 0.5f; /* h = 0 */
            *(v16 *)(gs[r] + 16 * q) = g[r][q];
        }
    float bo[KP];
    for (int c = 0; c < KP; c++) bo[c] = (bout != NULL && c < K) ? bout[c] : 0.0f;
    for (Py_ssize_t s = 0; s < T; s++) {
        Py_ssize_t t = reverse ? T - 1 - s : s;
        for (int r = 0; r < RW; r++) {
            const float *xt = xs[r] + t * F;
            for (int q = 0; q < 2 * HS / 16; q++) pre[r][q] = Bx[q];
            for (int q = 0; q < HS / 16; q++) {
                pre[r][2 * HS / 16 + q] = Bhn[q];
                gi[r][q] = Bx[2 * HS / 16 + q];
            }
            for (int f = 0; f < F; f++) {
                float xf = xt[f];
                for (int q = 0; q < 2 * HS / 16; q++) pre[r][q] += xf * Wx[f * NV + q];
                for (int q = 0; q < HS / 16; q++) gi[r][q] += xf * Wx[f * NV + 2 * HS / 16 + q];
            }
        }
        for (int h = 0; h < NH; h++) {
            v16 acc[MAXRW][NV];
            for (int r = 0; r < RW; r++)
                for (int q = 0; q < QB; q++) acc[r][q] = pre[r][QB * h + q];
            for (int k = 0; k < HS; k++) {
                const v16u *wk = Wh + k * NV + QB * h;
                v16 wv[NV];
                for (int q = 0; q < QB; q++) wv[q] = wk[q];
                for (int r = 0; r < RW; r++) {
                    float gk = gs[r][k];
                    for (int q = 0; q < QB; q++) acc[r][q] += gk * wv[q];
                }
            }
            for (int r = 0; r < RW; r++)
                for (int q = 0; q < QB; q++) pre[r][QB * h + q] = acc[r][q];
        }
        for (int r = 0; r < RW; r++) {
            for (int q = 0; q < HS / 16; q++) {
                v16 rg = vsigmoid(pre[r][q]);
                v16 z = vsigmoid(pre[r][HS / 16 + q]);
                v16 sv = vsigmoid(gi[r][q] + rg * pre[r][2 * HS / 16 + q]);
                g[r][q] = sv + z * (g[r][q] - sv); /* g' = s + z (g - s) */
                *(v16 *)(gs[r] + 16 * q) = g[r][q];
            }
            v16 o0 = {0}, o1 = {0}, o2 = {0}, o3 = {0};
            for (int k = 0; k < HS; k += 4) {
                o0 += gs[r][k] * Wo[k];
                o1 += gs[r][k + 1] * Wo[k + 1];
                o2 += gs[r][k + 2] * Wo[k + 2];
                o3 += gs[r][k + 3] * Wo[k + 3];
            }
            v16 o = (o0 + o1) + (o2 + o3);
            float *ot = os[r] + t * K;
            if (reverse)
                for (int c = 0; c < K; c++) ot[c] = (ot[c] + o[c]) + bo[c];
            else
                for (int c = 0; c < K; c++) ot[c] = o[c];
        }
    }
}

typedef void (*dir_fn)(const float *const *, float *const *, Py_ssize_t, int, int, const float *,
                       const float *, int);

/* Builds of dir_body: 4 sequences x 2 column blocks (24 accumulators) for 32 vector
 * registers of 512 bits; 2 x 6 for 16 AVX2 registers and other targets. */
#define DIR_BUILD(name, attr, rw, nh)                                                        \
    attr static void name(const float *const *xs, float *const *os, Py_ssize_t T, int F,    \
                          int K, const float *w, const float *bout, int reverse) {          \
        dir_body(xs, os, T, F, K, w, bout, reverse, rw, nh);                                  \
    }

DIR_BUILD(dir_generic, , 2, 6)
#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_BUILDS 1
DIR_BUILD(dir_avx512, __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), 4, 2)
DIR_BUILD(dir_avx2, __attribute__((target("avx2,fma"))), 2, 6)
#endif

static dir_fn DIR = dir_generic;
static int DIR_ROWS = 2;
static const char *DIR_NAME = "generic";

/* The widest build the CPU runs; GRIDLINK_BIGRU_BUILD=avx2 or generic caps it (tests). */
static void pick_build(void) {
#ifdef HAVE_X86_BUILDS
    const char *cap = getenv("GRIDLINK_BIGRU_BUILD");
    int allow512 = cap == NULL || (strcmp(cap, "avx2") != 0 && strcmp(cap, "generic") != 0);
    int allow256 = cap == NULL || strcmp(cap, "generic") != 0;
    __builtin_cpu_init();
    if (allow512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")) {
        DIR = dir_avx512, DIR_ROWS = 4, DIR_NAME = "avx512";
    } else if (allow256 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        DIR = dir_avx2, DIR_ROWS = 2, DIR_NAME = "avx2";
    }
#endif
}

/* logits(x, w, out, T, F, K, row0, row1): rows [row0, row1) of x (B x T x F float32,
 * C order) -> out (B x T x K float32, C order).  w: packed weights of both directions
 * then the head bias (KP floats). */
static PyObject *bigru_logits(PyObject *self, PyObject *args) {
    Py_buffer xb, wb, ob;
    Py_ssize_t T, row0, row1;
    int F, K;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*w*niinn", &xb, &wb, &ob, &T, &F, &K, &row0, &row1))
        return NULL;
    PyObject *ret = NULL;
    float *zx = NULL, *zo = NULL;
    if (T < 1 || F < 1 || K < 1 || K > KP) {
        PyErr_Format(PyExc_ValueError, "bad sizes: T=%zd F=%d K=%d (need T, F >= 1, 1 <= K <= %d)",
                     T, F, K, KP);
        goto done;
    }
    Py_ssize_t row_x = T * F, row_o = T * K;
    Py_ssize_t B = xb.len / (Py_ssize_t)sizeof(float) / row_x;
    if (xb.len != B * row_x * (Py_ssize_t)sizeof(float) ||
        ob.len != B * row_o * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "x must be (B, T, F) and out (B, T, K) float32 in C order");
        goto done;
    }
    if (wb.len != (2 * dir_size(F) + KP) * (Py_ssize_t)sizeof(float)) {
        PyErr_Format(PyExc_ValueError, "packed weights have %zd bytes, expected %zd", wb.len,
                     (2 * dir_size(F) + KP) * (Py_ssize_t)sizeof(float));
        goto done;
    }
    if (row0 < 0 || row1 > B || row0 > row1) {
        PyErr_Format(PyExc_ValueError, "rows [%zd, %zd) outside [0, %zd)", row0, row1, B);
        goto done;
    }
    if ((row1 - row0) % DIR_ROWS) { /* last rows run beside zero dummy sequences */
        zx = calloc((size_t)row_x, sizeof(float));
        zo = malloc((size_t)row_o * sizeof(float));
        if (zx == NULL || zo == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    const float *x = xb.buf, *w = wb.buf;
    float *out = ob.buf;
    const float *bout = w + 2 * dir_size(F);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t b = row0; b < row1; b += DIR_ROWS) {
        const float *xs[MAXRW];
        float *os[MAXRW];
        for (int r = 0; r < DIR_ROWS; r++) {
            xs[r] = b + r < row1 ? x + (b + r) * row_x : zx;
            os[r] = b + r < row1 ? out + (b + r) * row_o : zo;
        }
        for (int d = 0; d < 2; d++) DIR(xs, os, T, F, K, w + d * dir_size(F), d ? bout : NULL, d);
    }
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    ret = Py_None;
done:
    free(zx);
    free(zo);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&ob);
    return ret;
}

static PyMethodDef methods[] = {
    {"logits", bigru_logits, METH_VARARGS,
     "logits(x, w, out, T, F, K, row0, row1): fused BiGRU + head inference, in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bigru", "Fused CPU BiGRU inference kernel (see traces.states.classifier).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bigru(void) {
    pick_build();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddStringConstant(m, "BUILD", DIR_NAME) < 0 ||
                      PyModule_AddIntConstant(m, "ROWS", DIR_ROWS) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    if (m != NULL && PyModule_AddIntConstant(m, "HIDDEN_SIZE", HS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_STATES", KP) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
