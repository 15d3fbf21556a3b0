/* The CRF's loops over the tokens of one sentence, the inner loops of ``elmol_nlu.crf``.
 *
 * In numpy each token's step is a few calls on a (K, K) table, and their fixed cost (about a microsecond each)
 * was most of a served utterance's CRF time; here each loop is one call (``python -m bench.crf``).
 *
 * Viterbi: results are those of the numpy formulation it replaces: scores add in float32 in the same order and
 * ties go to the lowest index, as argmax does (a maximum is exact in any order, so it may be vectorised). BIO
 * allows only two moves into an I- tag; the others carry a forbidding score, so the best into an I- tag is
 * taken over those two whenever no forbidden move could reach it (``moves``), which is always but at
 * scores 1e4 apart, where the full scan answers.
 *
 * Forward-backward (``chain``, ``forward``, ``backward``): the scaled tables of ``elmol_nlu.crf.Posterior``, in
 * float64, equal to numpy's up to rounding. BIO forbids most moves into an I- tag (only B-x and I-x may precede
 * I-x), so the exp-transition table, exactly 0 where forbidden, is split once: the columns most tags may move
 * into (O, every B-) are a dense block, the others a short list each. Each step reads about half of the
 * (K, K) table; the dense block eight sums at a time in registers (AVX in the x86-64-v3 clone), each sum
 * added in the order of a plain loop.
 * Arguments are C-contiguous buffers (numpy arrays) whose shapes ``elmol_nlu.crf`` checks once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* The struct format code of a buffer, without its byte-order prefix. */
static char format_code(const Py_buffer *view) {
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    return f[1] == '\0' ? f[0] : '\0';
}

/* A buffer of at least ``count`` contiguous items of one of the types in ``codes`` ('f' float32, 'd' float64,
 * '?' bool), writable if asked, or 0 with an exception set; format_code(view) tells which type it is. */
static int get_array(PyObject *obj, Py_buffer *view, Py_ssize_t count, const char *name, const char *codes,
                     int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0)
        return 0;
    char code = format_code(view);
    Py_ssize_t size = code == 'd' ? 8 : code == 'f' ? 4 : 1;
    if (!code || !strchr(codes, code) || view->itemsize != size || view->len < count * size) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd contiguous items of type '%s'", name, count, codes);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* A read-only buffer of at least ``count`` contiguous float32, or 0 with an exception set. */
static int get_floats(PyObject *obj, Py_buffer *view, Py_ssize_t count, const char *name) {
    return get_array(obj, view, count, name, "f", 0);
}

/* The largest of a[i] + b[i] (a maximum is exact in any order, hence a loop the compiler may vectorise). */
static float max_sum(const float *a, const float *b, Py_ssize_t n) {
    float best = a[0] + b[0];
    for (Py_ssize_t i = 1; i < n; i++) {
        float v = a[i] + b[i];
        best = v > best ? v : best;
    }
    return best;
}

/* The first index of the largest of a[i] + b[i], as numpy's argmax of (a + b) in float32. */
static Py_ssize_t argmax_sum(const float *a, const float *b, Py_ssize_t n) {
    Py_ssize_t best = 0;
    float top = a[0] + b[0];
    for (Py_ssize_t i = 1; i < n; i++) {
        float v = a[i] + b[i];
        if (v > top) {
            top = v;
            best = i;
        }
    }
    return best;
}

/* Whether a tag few others may move into (in BIO an I- tag: two of 111) keeps a list of those moves, in Viterbi's
 * ``moves`` and forward-backward's ``chain`` alike, rather than a full column. */
static int few_moves_into(Py_ssize_t count, Py_ssize_t K) { return count * 4 <= K; }

/* ---- Viterbi ---- */

#define MOVES_NAME "elmol_nlu._crf.moves"

/* Which tags may move into each tag, for Viterbi: a tag that few may move into (an I- tag, in BIO) keeps the list
 * of them, and the largest forbidden transition score into it (transitions carry the forbidden moves as large
 * negative scores, FORBIDDEN in ``elmol_nlu.crf``). */
typedef struct {
    Py_ssize_t K;
    Py_ssize_t *ptr, *from; /* tag ``to`` is sparse when ptr[to] >= 0: its moves are from[ptr[to] .. end[to]) */
    Py_ssize_t *end;        /* (K,): end of each sparse tag's list */
    float *forbidden_max;   /* (K,): the largest forbidden score into ``to`` */
    unsigned char *any_forbidden;
} Moves;

static void moves_release(Moves *m) {
    if (!m)
        return;
    PyMem_Free(m->ptr);
    PyMem_Free(m->from);
    PyMem_Free(m->end);
    PyMem_Free(m->forbidden_max);
    PyMem_Free(m->any_forbidden);
    PyMem_Free(m);
}

static void moves_capsule_free(PyObject *capsule) { moves_release(PyCapsule_GetPointer(capsule, MOVES_NAME)); }

/* moves(transitions_to_from (K, K) f32, allowed_to_from (K, K) bool, K) -> capsule */
static PyObject *moves(PyObject *self, PyObject *args) {
    PyObject *tr_obj, *ok_obj;
    Py_ssize_t K;
    if (!PyArg_ParseTuple(args, "OOn", &tr_obj, &ok_obj, &K))
        return NULL;
    if (K < 1)
        return PyErr_Format(PyExc_ValueError, "moves needs K >= 1, got %zd", K);
    Py_buffer tr, ok;
    if (!get_floats(tr_obj, &tr, K * K, "transitions"))
        return NULL;
    if (!get_array(ok_obj, &ok, K * K, "allowed", "?", 0)) {
        PyBuffer_Release(&tr);
        return NULL;
    }
    const float *trans = tr.buf;
    const unsigned char *allowed = ok.buf;
    PyObject *capsule = NULL;
    Moves *m = PyMem_Calloc(1, sizeof(Moves));
    if (m) {
        m->K = K;
        m->ptr = PyMem_Malloc((size_t)K * sizeof(Py_ssize_t));
        m->end = PyMem_Malloc((size_t)K * sizeof(Py_ssize_t));
        m->from = PyMem_Malloc((size_t)(K * K) * sizeof(Py_ssize_t));
        m->forbidden_max = PyMem_Malloc((size_t)K * sizeof(float));
        m->any_forbidden = PyMem_Calloc((size_t)K, 1);
    }
    if (m && m->ptr && m->end && m->from && m->forbidden_max && m->any_forbidden) {
        Py_ssize_t n = 0;
        for (Py_ssize_t to = 0; to < K; to++) {
            Py_ssize_t count = 0;
            for (Py_ssize_t from = 0; from < K; from++)
                count += allowed[to * K + from] != 0;
            m->ptr[to] = m->end[to] = -1;
            if (!few_moves_into(count, K))
                continue;
            m->ptr[to] = n;
            m->forbidden_max[to] = 0.0f;
            for (Py_ssize_t from = 0; from < K; from++) {
                float v = trans[to * K + from];
                if (allowed[to * K + from]) {
                    m->from[n++] = from;
                } else if (!m->any_forbidden[to] || v > m->forbidden_max[to]) {
                    m->forbidden_max[to] = v;
                    m->any_forbidden[to] = 1;
                }
            }
            m->end[to] = n;
        }
        capsule = PyCapsule_New(m, MOVES_NAME, moves_capsule_free);
    } else {
        PyErr_NoMemory();
    }
    if (!capsule)
        moves_release(m);
    PyBuffer_Release(&ok);
    PyBuffer_Release(&tr);
    return capsule;
}

/* The best score into ``to`` from ``prev``: over the allowed moves alone when ``to`` is sparse and no forbidden
 * move can reach that best (each forbidden candidate is at most fl(prev_max + forbidden_max), float rounding being
 * monotonic), else over every move, as numpy does; either way the same float. */
static float best_into(const Moves *m, Py_ssize_t to, const float *row, const float *prev, float prev_max,
                       Py_ssize_t K) {
    if (m && m->ptr[to] >= 0 && m->end[to] > m->ptr[to]) {
        float best = row[m->from[m->ptr[to]]] + prev[m->from[m->ptr[to]]];
        for (Py_ssize_t e = m->ptr[to] + 1; e < m->end[to]; e++) {
            float v = row[m->from[e]] + prev[m->from[e]];
            best = v > best ? v : best;
        }
        if (!m->any_forbidden[to] || best > prev_max + m->forbidden_max[to])
            return best;
    }
    return max_sum(row, prev, K);
}

/* viterbi(emissions (T, K) f32, start (K,), transitions_to_from (K, K), end (K,), T, K, moves or None)
 *   -> list of T tags; ``moves`` (of these transitions) lets sparse tags look at their allowed moves only */
static PyObject *viterbi(PyObject *self, PyObject *args) {
    PyObject *e_obj, *s_obj, *tr_obj, *end_obj, *m_obj = Py_None;
    Py_ssize_t T, K;
    if (!PyArg_ParseTuple(args, "OOOOnn|O", &e_obj, &s_obj, &tr_obj, &end_obj, &T, &K, &m_obj))
        return NULL;
    const Moves *m = NULL;
    if (m_obj != Py_None) {
        if (!(m = PyCapsule_GetPointer(m_obj, MOVES_NAME)))
            return NULL;
        if (m->K != K)
            return PyErr_Format(PyExc_ValueError, "moves are for %zd tags, not %zd", m->K, K);
    }
    if (T < 1 || K < 1)
        return PyErr_Format(PyExc_ValueError, "viterbi needs T >= 1 and K >= 1, got %zd, %zd", T, K);
    Py_buffer e, s, tr, end;
    if (!get_floats(e_obj, &e, T * K, "emissions"))
        return NULL;
    if (!get_floats(s_obj, &s, K, "start"))
        goto fail_e;
    if (!get_floats(tr_obj, &tr, K * K, "transitions"))
        goto fail_s;
    if (!get_floats(end_obj, &end, K, "end"))
        goto fail_tr;
    const float *em = e.buf, *trans = tr.buf;
    float *scores = PyMem_Malloc((size_t)(T * K) * sizeof(float)); /* scores[t]: best path to each tag */
    PyObject *path = scores ? PyList_New(T) : NULL;
    if (!path) {
        PyMem_Free(scores);
        PyErr_NoMemory();
        goto fail_end;
    }
    for (Py_ssize_t k = 0; k < K; k++)
        scores[k] = ((const float *)s.buf)[k] + em[k];
    for (Py_ssize_t t = 1; t < T; t++) {
        const float *prev = scores + (t - 1) * K;
        float prev_max = prev[0];
        for (Py_ssize_t k = 1; k < K; k++)
            prev_max = prev[k] > prev_max ? prev[k] : prev_max;
        for (Py_ssize_t to = 0; to < K; to++)
            scores[t * K + to] = best_into(m, to, trans + to * K, prev, prev_max, K) + em[t * K + to];
    }
    Py_ssize_t tag = argmax_sum(scores + (T - 1) * K, end.buf, K);
    for (Py_ssize_t t = T - 1;; t--) {
        PyList_SET_ITEM(path, t, PyLong_FromSsize_t(tag));
        if (t == 0)
            break;
        tag = argmax_sum(trans + tag * K, scores + (t - 1) * K, K); /* the best predecessor, recomputed */
    }
    PyMem_Free(scores);
    PyBuffer_Release(&end);
    PyBuffer_Release(&tr);
    PyBuffer_Release(&s);
    PyBuffer_Release(&e);
    return path;
fail_end:
    PyBuffer_Release(&end);
fail_tr:
    PyBuffer_Release(&tr);
fail_s:
    PyBuffer_Release(&s);
fail_e:
    PyBuffer_Release(&e);
    return NULL;
}

/* ---- forward-backward ---- */

#define MAX_SCORE_GAP 300.0 /* elmol_nlu.crf.MAX_SCORE_GAP */
#define RANGE_FLOOR 1e-250  /* elmol_nlu.crf.RANGE_FLOOR */
#define CHAIN_NAME "elmol_nlu._crf.chain"
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define STEP_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define STEP_CLONES
#endif

/* The exp tables of one CRF (0 where a move is forbidden), with the transitions split by target column. */
typedef struct {
    Py_ssize_t K, D, S;
    double *start, *end;              /* (K,) */
    double *trans;                    /* (K, K): [i * K + j], for the few entries a path or a slot reads */
    unsigned char *start_ok, *later;  /* (K,): tags a sentence may start with; tags checked in later rows */
    Py_ssize_t *dense;                /* (D,): the columns many tags may move into */
    double *into_dense;               /* (K, D): [i * D + d] = trans[i, dense[d]], rows for the forward pass */
    double *dense_from;               /* (D, K): [d * K + i] = trans[i, dense[d]], rows for the backward pass */
    Py_ssize_t *sparse, *sparse_ptr;  /* (S,), (S + 1,): column sparse[s] has entries ptr[s] .. ptr[s + 1] - 1 */
    Py_ssize_t *sparse_from;          /* (entries,): the tag each entry moves from */
    double *sparse_value;             /* (entries,) */
} Chain;

static void chain_free(Chain *c) {
    if (!c)
        return;
    void *parts[] = {c->start, c->end, c->trans, c->start_ok, c->later, c->dense, c->into_dense, c->dense_from,
                     c->sparse, c->sparse_ptr, c->sparse_from, c->sparse_value};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        PyMem_Free(parts[i]);
    PyMem_Free(c);
}

static void chain_capsule_free(PyObject *capsule) { chain_free(PyCapsule_GetPointer(capsule, CHAIN_NAME)); }

/* Fill ``c`` from the (K, K) exp-transition table: a column with many allowed moves into it is dense. */
static int chain_split(Chain *c, const double *trans) {
    Py_ssize_t K = c->K, entries = 0;
    Py_ssize_t *counts = PyMem_Calloc((size_t)K, sizeof(Py_ssize_t));
    if (!counts)
        return 0;
    for (Py_ssize_t i = 0; i < K; i++)
        for (Py_ssize_t j = 0; j < K; j++)
            counts[j] += trans[i * K + j] != 0.0;
    c->D = c->S = 0;
    for (Py_ssize_t j = 0; j < K; j++) {
        if (!few_moves_into(counts[j], K))
            c->D++;
        else
            entries += counts[j];
    }
    c->S = K - c->D;
    c->dense = PyMem_Malloc((size_t)(c->D + 1) * sizeof(Py_ssize_t));
    c->into_dense = PyMem_Malloc((size_t)(K * c->D + 1) * sizeof(double));
    c->dense_from = PyMem_Malloc((size_t)(K * c->D + 1) * sizeof(double));
    c->sparse = PyMem_Malloc((size_t)(c->S + 1) * sizeof(Py_ssize_t));
    c->sparse_ptr = PyMem_Malloc((size_t)(c->S + 1) * sizeof(Py_ssize_t));
    c->sparse_from = PyMem_Malloc((size_t)(entries + 1) * sizeof(Py_ssize_t));
    c->sparse_value = PyMem_Malloc((size_t)(entries + 1) * sizeof(double));
    if (!c->dense || !c->into_dense || !c->dense_from || !c->sparse || !c->sparse_ptr || !c->sparse_from ||
        !c->sparse_value) {
        PyMem_Free(counts);
        return 0;
    }
    Py_ssize_t d = 0, s = 0, e = 0;
    for (Py_ssize_t j = 0; j < K; j++) {
        if (!few_moves_into(counts[j], K)) {
            c->dense[d] = j;
            for (Py_ssize_t i = 0; i < K; i++)
                c->into_dense[i * c->D + d] = c->dense_from[d * K + i] = trans[i * K + j];
            d++;
            continue;
        }
        c->sparse[s] = j;
        c->sparse_ptr[s] = e;
        for (Py_ssize_t i = 0; i < K; i++) {
            if (trans[i * K + j] != 0.0) {
                c->sparse_from[e] = i;
                c->sparse_value[e++] = trans[i * K + j];
            }
        }
        s++;
    }
    c->sparse_ptr[s] = e;
    PyMem_Free(counts);
    return 1;
}

static unsigned char *copy_mask(const Py_buffer *view, Py_ssize_t K) {
    unsigned char *mask = PyMem_Malloc((size_t)K);
    if (mask)
        for (Py_ssize_t k = 0; k < K; k++)
            mask[k] = ((const unsigned char *)view->buf)[k] != 0;
    return mask;
}

static double *copy_doubles(const Py_buffer *view, Py_ssize_t n) {
    double *out = PyMem_Malloc((size_t)n * sizeof(double));
    if (out)
        memcpy(out, view->buf, (size_t)n * sizeof(double));
    return out;
}

/* chain(exp_start (K,) f64, exp_trans (K, K), exp_end (K,), start_ok (K,) bool, later (K,) bool, K) -> capsule */
static PyObject *chain(PyObject *self, PyObject *args) {
    PyObject *objs[5];
    Py_ssize_t K;
    if (!PyArg_ParseTuple(args, "OOOOOn", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &K))
        return NULL;
    if (K < 1)
        return PyErr_Format(PyExc_ValueError, "chain needs K >= 1, got %zd", K);
    const char *names[] = {"exp_start", "exp_trans", "exp_end", "start_ok", "later"};
    const char *codes[] = {"d", "d", "d", "?", "?"};
    Py_ssize_t counts[] = {K, K * K, K, K, K};
    Py_buffer views[5];
    int got = 0;
    for (; got < 5; got++)
        if (!get_array(objs[got], &views[got], counts[got], names[got], codes[got], 0))
            break;
    PyObject *capsule = NULL;
    Chain *c = got == 5 ? PyMem_Calloc(1, sizeof(Chain)) : NULL;
    if (c) {
        c->K = K;
        c->start = copy_doubles(&views[0], K);
        c->end = copy_doubles(&views[2], K);
        c->trans = copy_doubles(&views[1], K * K);
        c->start_ok = copy_mask(&views[3], K);
        c->later = copy_mask(&views[4], K);
        if (c->start && c->end && c->trans && c->start_ok && c->later && chain_split(c, views[1].buf))
            capsule = PyCapsule_New(c, CHAIN_NAME, chain_capsule_free);
        if (!capsule) {
            chain_free(c);
            if (!PyErr_Occurred())
                PyErr_NoMemory();
        }
    } else if (got == 5) {
        PyErr_NoMemory();
    }
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    return capsule;
}

/* Four doubles, in one AVX register in the x86-64-v3 clone (two SSE2 registers otherwise). */
typedef double quad __attribute__((vector_size(32)));
#define BLOCK 8 /* dense columns summed at once, in registers */

/* sums[b] = sum over k < n of weights[k] * rows[k * stride + b], for b < BLOCK: the BLOCK sums kept in registers
 * over every k, each added in k order as a plain loop would. */
static inline void block_sums(const double *weights, const double *rows, Py_ssize_t n, Py_ssize_t stride,
                              double *sums) {
    quad low = {0.0, 0.0, 0.0, 0.0}, high = low, x, y;
    for (Py_ssize_t k = 0; k < n; k++, rows += stride) {
        quad a = {weights[k], weights[k], weights[k], weights[k]};
        memcpy(&x, rows, sizeof x); /* unaligned loads */
        memcpy(&y, rows + 4, sizeof y);
        low += a * x;
        high += a * y;
    }
    memcpy(sums, &low, sizeof low);
    memcpy(sums + 4, &high, sizeof high);
}

/* The sum over k < n of weights[k] * rows[k * stride], in k order: what is left after the blocks. */
static inline double column_sum(const double *weights, const double *rows, Py_ssize_t n, Py_ssize_t stride) {
    double sum = 0.0;
    for (Py_ssize_t k = 0; k < n; k++)
        sum += weights[k] * rows[k * stride];
    return sum;
}

/* One forward step: cur = (prev @ trans) * emit, unnormalised; the dense columns BLOCK at a time. */
STEP_CLONES static void forward_step(const Chain *c, const double *prev, const double *emit, double *cur) {
    Py_ssize_t K = c->K, D = c->D, d0 = 0;
    double sums[BLOCK];
    for (; d0 + BLOCK <= D; d0 += BLOCK) {
        block_sums(prev, c->into_dense + d0, K, D, sums);
        for (int b = 0; b < BLOCK; b++)
            cur[c->dense[d0 + b]] = sums[b] * emit[c->dense[d0 + b]];
    }
    for (; d0 < D; d0++)
        cur[c->dense[d0]] = column_sum(prev, c->into_dense + d0, K, D) * emit[c->dense[d0]];
    for (Py_ssize_t s = 0; s < c->S; s++) {
        double sum = 0.0;
        for (Py_ssize_t e = c->sparse_ptr[s]; e < c->sparse_ptr[s + 1]; e++)
            sum += prev[c->sparse_from[e]] * c->sparse_value[e];
        cur[c->sparse[s]] = sum * emit[c->sparse[s]];
    }
}

/* The smallest of row[k] where mask[k]; DBL_MAX when none (finite: the module is built with -ffinite-math-only). */
static double masked_min(const double *row, const unsigned char *mask, Py_ssize_t K) {
    double low = DBL_MAX;
    for (Py_ssize_t k = 0; k < K; k++)
        if (mask[k] && row[k] < low)
            low = row[k];
    return low;
}

static Chain *chain_of(PyObject *capsule) { return PyCapsule_GetPointer(capsule, CHAIN_NAME); }

/* The (4, T, K) tables and (2, T) rows of one sentence's posterior: both (1), or neither and an exception (0). */
static int get_tables(PyObject *t_obj, PyObject *r_obj, Py_ssize_t T, Py_ssize_t K, int writable, Py_buffer *tables,
                      Py_buffer *rows) {
    if (!get_array(t_obj, tables, 4 * T * K, "tables", "d", writable))
        return 0;
    if (!get_array(r_obj, rows, 2 * T, "rows", "d", writable)) {
        PyBuffer_Release(tables);
        return 0;
    }
    return 1;
}

static void release_tables(Py_buffer *tables, Py_buffer *rows) {
    PyBuffer_Release(rows);
    PyBuffer_Release(tables);
}

/* forward(chain, emissions (T, K) f32 or f64, T, temperature, tables (4, T, K) f64, rows (2, T) f64)
 *   -> (end_scale, sum of the row shifts, in range)
 * Writes tables[0] = scores (emissions / temperature), [1] = emit = exp(max(scores - row max, -MAX_SCORE_GAP)),
 * [2] = alpha (rows normalised to sum 1), [3][T - 1] = exp_end; rows[0] = scale (alpha's row sums before
 * normalising), rows[1][T - 1] = -log(end_scale). In range: no score floored and no entry that may matter below
 * RANGE_FLOOR (row 0 over start_ok, later rows over ``later``). */
static PyObject *forward(PyObject *self, PyObject *args) {
    PyObject *c_obj, *e_obj, *t_obj, *r_obj;
    Py_ssize_t T;
    double temperature;
    if (!PyArg_ParseTuple(args, "OOndOO", &c_obj, &e_obj, &T, &temperature, &t_obj, &r_obj))
        return NULL;
    const Chain *c = chain_of(c_obj);
    if (!c)
        return NULL;
    if (T < 1 || !(temperature > 0.0))
        return PyErr_Format(PyExc_ValueError, "forward needs T >= 1 and a positive temperature");
    Py_ssize_t K = c->K, n = T * K;
    Py_buffer e, tables, rows;
    if (!get_array(e_obj, &e, n, "emissions", "fd", 0))
        return NULL;
    char code = format_code(&e);
    if (!get_tables(t_obj, r_obj, T, K, 1, &tables, &rows)) {
        PyBuffer_Release(&e);
        return NULL;
    }
    double *scores = tables.buf, *emit = scores + n, *alpha = emit + n, *beta = alpha + n;
    double *scale = rows.buf, *beta_log = scale + T;
    double shift_sum = 0.0, low = DBL_MAX;
    int floored = 0;
    for (Py_ssize_t t = 0; t < T; t++) {
        double *s = scores + t * K, top = -DBL_MAX;
        for (Py_ssize_t k = 0; k < K; k++) {
            s[k] = (code == 'f' ? (double)((const float *)e.buf)[t * K + k] : ((const double *)e.buf)[t * K + k])
                   / temperature;
            top = s[k] > top ? s[k] : top;
        }
        shift_sum += top;
        for (Py_ssize_t k = 0; k < K; k++) {
            double gap = s[k] - top;
            floored |= gap < -MAX_SCORE_GAP;
            emit[t * K + k] = exp(gap < -MAX_SCORE_GAP ? -MAX_SCORE_GAP : gap);
        }
    }
    for (Py_ssize_t t = 0; t < T; t++) {
        double *cur = alpha + t * K, sum = 0.0;
        if (t == 0)
            for (Py_ssize_t k = 0; k < K; k++)
                cur[k] = c->start[k] * emit[k];
        else
            forward_step(c, cur - K, emit + t * K, cur);
        for (Py_ssize_t k = 0; k < K; k++)
            sum += cur[k];
        scale[t] = sum;
        double inv = 1.0 / sum;
        for (Py_ssize_t k = 0; k < K; k++)
            cur[k] *= inv;
        double row_low = masked_min(cur, t == 0 ? c->start_ok : c->later, K);
        low = row_low < low ? row_low : low;
    }
    double end_scale = 0.0;
    for (Py_ssize_t k = 0; k < K; k++)
        end_scale += alpha[(T - 1) * K + k] * c->end[k];
    memcpy(beta + (T - 1) * K, c->end, (size_t)K * sizeof(double));
    beta_log[T - 1] = -log(end_scale);
    int in_range = !floored && low >= RANGE_FLOOR;
    release_tables(&tables, &rows);
    PyBuffer_Release(&e);
    return Py_BuildValue("(ddO)", end_scale, shift_sum, in_range ? Py_True : Py_False);
}

/* One backward step: out = trans @ (emit * next), unnormalised; ``w`` holds K + D doubles. BLOCK rows of ``out``
 * at a time over the dense columns in order, as the forward step, then the sparse moves. */
STEP_CLONES static void backward_step(const Chain *c, const double *next, const double *emit, double *out, double *w) {
    Py_ssize_t K = c->K, D = c->D, i0 = 0;
    double *w_dense = w + K;
    for (Py_ssize_t k = 0; k < K; k++)
        w[k] = emit[k] * next[k];
    for (Py_ssize_t d = 0; d < D; d++)
        w_dense[d] = w[c->dense[d]];
    for (; i0 + BLOCK <= K; i0 += BLOCK)
        block_sums(w_dense, c->dense_from + i0, D, K, out + i0);
    for (; i0 < K; i0++)
        out[i0] = column_sum(w_dense, c->dense_from + i0, D, K);
    for (Py_ssize_t s = 0; s < c->S; s++) {
        double ws = w[c->sparse[s]];
        for (Py_ssize_t e = c->sparse_ptr[s]; e < c->sparse_ptr[s + 1]; e++)
            out[c->sparse_from[e]] += c->sparse_value[e] * ws;
    }
}

/* backward(chain, tables (4, T, K) f64, rows (2, T) f64, T, filled, to) -> the smallest entry of the new rows
 * Fills backward rows to .. filled - 1 from row ``filled`` (whose beta_log, rows[1][filled], is known): row u =
 * trans @ (emit[u + 1] * beta[u + 1]), divided by its maximum, whose log less log scale[u + 1] adds to beta_log. */
static PyObject *backward(PyObject *self, PyObject *args) {
    PyObject *c_obj, *t_obj, *r_obj;
    Py_ssize_t T, filled, to;
    if (!PyArg_ParseTuple(args, "OOOnnn", &c_obj, &t_obj, &r_obj, &T, &filled, &to))
        return NULL;
    const Chain *c = chain_of(c_obj);
    if (!c)
        return NULL;
    if (!(0 <= to && to <= filled && filled < T))
        return PyErr_Format(PyExc_ValueError, "backward needs 0 <= to <= filled < T");
    Py_ssize_t K = c->K, n = T * K;
    Py_buffer tables, rows;
    if (!get_tables(t_obj, r_obj, T, K, 1, &tables, &rows))
        return NULL;
    double *w = PyMem_Malloc((size_t)(K + c->D) * sizeof(double));
    if (!w) {
        release_tables(&tables, &rows);
        return PyErr_NoMemory();
    }
    const double *emit = (double *)tables.buf + n;
    double *beta = (double *)tables.buf + 3 * n, *scale = rows.buf, *beta_log = scale + T;
    double log_factor = beta_log[filled], low = DBL_MAX;
    for (Py_ssize_t u = filled - 1; u >= to; u--) {
        double *out = beta + u * K, top = 0.0;
        backward_step(c, beta + (u + 1) * K, emit + (u + 1) * K, out, w);
        for (Py_ssize_t k = 0; k < K; k++)
            top = out[k] > top ? out[k] : top;
        if (top > 0.0) { /* always, when every tag may go on to O: else the caller falls back on its log tables */
            double inv = 1.0 / top;
            for (Py_ssize_t k = 0; k < K; k++) {
                out[k] *= inv;
                low = out[k] < low ? out[k] : low;
            }
            log_factor += log(top / scale[u + 1]);
        } else {
            low = 0.0;
        }
        beta_log[u] = log_factor;
    }
    PyMem_Free(w);
    release_tables(&tables, &rows);
    return PyFloat_FromDouble(low);
}

/* A probability computed in floats, kept in [0, 1] against rounding. */
static double clamped(double p) { return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p; }

/* sequence(chain, tables (4, T, K) f64, rows (2, T) f64, T, path (list of T tags), end_scale) -> P(path)
 * Through the scaled forward quantities (``elmol_nlu.crf.CRFPosterior.sequence_probability``, in range). */
static PyObject *sequence(PyObject *self, PyObject *args) {
    PyObject *c_obj, *t_obj, *r_obj, *path;
    Py_ssize_t T;
    double end_scale;
    if (!PyArg_ParseTuple(args, "OOOnO!d", &c_obj, &t_obj, &r_obj, &T, &PyList_Type, &path, &end_scale))
        return NULL;
    const Chain *c = chain_of(c_obj);
    if (!c)
        return NULL;
    Py_ssize_t K = c->K, n = T * K;
    if (T < 1 || PyList_GET_SIZE(path) != T)
        return PyErr_Format(PyExc_ValueError, "sequence needs a path of T >= 1 tags");
    Py_buffer tables, rows;
    if (!get_tables(t_obj, r_obj, T, K, 0, &tables, &rows))
        return NULL;
    const double *emit = (const double *)tables.buf + n, *scale = rows.buf;
    double p = 1.0;
    Py_ssize_t prev = -1;
    for (Py_ssize_t t = 0; t < T; t++) {
        Py_ssize_t tag = PyLong_AsSsize_t(PyList_GET_ITEM(path, t));
        if (tag < 0 || tag >= K) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "tag %zd is not one of the %zd tags", tag, K);
            release_tables(&tables, &rows);
            return NULL;
        }
        p *= (t ? c->trans[prev * K + tag] : c->start[tag]) * emit[t * K + tag] / scale[t];
        prev = tag;
    }
    release_tables(&tables, &rows);
    return PyFloat_FromDouble(clamped(p * c->end[prev] / end_scale));
}

/* span(chain, tables, rows, T, start, stop, begin, inside, end_scale) -> P(one slot over start .. stop - 1)
 * As ``elmol_nlu.crf.CRFPosterior.span_probability`` in range; the backward row ``stop`` must be filled. */
static PyObject *span(PyObject *self, PyObject *args) {
    PyObject *c_obj, *t_obj, *r_obj;
    Py_ssize_t T, start, stop, begin, inside;
    double end_scale;
    if (!PyArg_ParseTuple(args, "OOOnnnnnd", &c_obj, &t_obj, &r_obj, &T, &start, &stop, &begin, &inside, &end_scale))
        return NULL;
    const Chain *c = chain_of(c_obj);
    if (!c)
        return NULL;
    Py_ssize_t K = c->K, n = T * K;
    if (!(0 <= start && start < stop && stop <= T) || begin < 0 || begin >= K || inside < 0 || inside >= K)
        return PyErr_Format(PyExc_ValueError, "span needs 0 <= start < stop <= T and tags below %zd", K);
    Py_buffer tables, rows;
    if (!get_tables(t_obj, r_obj, T, K, 0, &tables, &rows))
        return NULL;
    const double *emit = (const double *)tables.buf + n, *alpha = emit + n, *beta = alpha + n;
    const double *scale = rows.buf, *beta_log = scale + T;
    double p = alpha[start * K + begin], result;
    Py_ssize_t prev = begin;
    for (Py_ssize_t t = start + 1; t < stop; t++) {
        p *= c->trans[prev * K + inside] * emit[t * K + inside] / scale[t];
        prev = inside;
    }
    if (stop == T) {
        result = clamped(p * c->end[prev] / end_scale);
    } else { /* every continuation from prev into stop, less the one into inside */
        const double *row = c->trans + prev * K, *next_emit = emit + stop * K, *next = beta + stop * K;
        double onward = 0.0;
        for (Py_ssize_t k = 0; k < K; k++)
            onward += row[k] * (next_emit[k] * next[k]);
        onward -= row[inside] * (next_emit[inside] * next[inside]);
        p *= (onward > 0.0 ? onward : 0.0) / scale[stop];
        double log_p = p > 0.0 ? log(p) + beta_log[stop] : 0.0;
        result = p > 0.0 ? clamped(exp(log_p < 0.0 ? log_p : 0.0)) : 0.0;
    }
    release_tables(&tables, &rows);
    return PyFloat_FromDouble(result);
}

static PyMethodDef methods[] = {
    {"viterbi", viterbi, METH_VARARGS, "Best tag path of one sentence: a list of T tag indices."},
    {"moves", moves, METH_VARARGS, "Which moves into each tag Viterbi must look at (a capsule)."},
    {"chain", chain, METH_VARARGS, "A CRF's exp tables, split for forward-backward (a capsule)."},
    {"forward", forward, METH_VARARGS, "Scaled forward table of one sentence: (end_scale, shift sum, in range)."},
    {"sequence", sequence, METH_VARARGS, "P(a tag path) from the scaled forward tables."},
    {"span", span, METH_VARARGS, "P(one slot span) from the scaled forward and backward tables."},
    {"backward", backward, METH_VARARGS, "Scaled backward rows of one sentence: the smallest new entry."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_crf", "Linear-chain CRF loops (see elmol_nlu.crf).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__crf(void) { return PyModule_Create(&module); }
