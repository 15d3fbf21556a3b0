/* Linear-chain CRF loops for one sentence, the inner part of ``elmol_nlu.crf``.
 *
 * In numpy each step of Viterbi or forward-backward is four or five calls on a (K, K) table, and their
 * fixed cost (a few microseconds each) was a sixth of a served request. Here each loop is one call.
 * Results are those of the numpy formulation they replace: Viterbi adds in float32 in the same order and
 * breaks ties towards the lowest index, as argmax does (a maximum is exact in any order, so it may be
 * vectorised); forward-backward sums in float64 in another order than BLAS, so it agrees to rounding.
 * Arguments are C-contiguous buffers (numpy arrays) whose shapes ``elmol_nlu.crf`` checks once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A buffer of ``count`` items of ``itemsize`` bytes ('f' float32, 'd' float64), or 0 with an exception set. */
static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t count, char format, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0)
        return 0;
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    Py_ssize_t itemsize = format == 'f' ? 4 : 8;
    if (f[0] != format || f[1] != '\0' || view->itemsize != itemsize || view->len < count * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd contiguous %s", name, count,
                     format == 'f' ? "float32" : "float64");
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
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

/* viterbi(emissions (T, K) f32, start (K,), transitions_to_from (K, K), end (K,), T, K) -> list of T tags */
static PyObject *viterbi(PyObject *self, PyObject *args) {
    PyObject *e_obj, *s_obj, *tr_obj, *end_obj;
    Py_ssize_t T, K;
    if (!PyArg_ParseTuple(args, "OOOOnn", &e_obj, &s_obj, &tr_obj, &end_obj, &T, &K))
        return NULL;
    if (T < 1 || K < 1)
        return PyErr_Format(PyExc_ValueError, "viterbi needs T >= 1 and K >= 1, got %zd, %zd", T, K);
    Py_buffer e, s, tr, end;
    if (!get_buffer(e_obj, &e, T * K, 'f', 0, "emissions"))
        return NULL;
    if (!get_buffer(s_obj, &s, K, 'f', 0, "start"))
        goto fail_e;
    if (!get_buffer(tr_obj, &tr, K * K, 'f', 0, "transitions"))
        goto fail_s;
    if (!get_buffer(end_obj, &end, K, 'f', 0, "end"))
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
        for (Py_ssize_t to = 0; to < K; to++)
            scores[t * K + to] = max_sum(trans + to * K, prev, K) + em[t * K + to];
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

/* forward(emit (T, K) f64, exp_start (K,), exp_trans (K, K), exp_end (K,), alpha (T, K) out, scale (T,) out,
 * T, K) -> end_scale. alpha[t] = (alpha[t-1] @ exp_trans) * emit[t], each row scaled to sum 1 by scale[t]. */
static PyObject *forward(PyObject *self, PyObject *args) {
    PyObject *objs[6];
    Py_ssize_t T, K;
    if (!PyArg_ParseTuple(args, "OOOOOOnn", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5], &T, &K))
        return NULL;
    if (T < 1 || K < 1)
        return PyErr_Format(PyExc_ValueError, "forward needs T >= 1 and K >= 1, got %zd, %zd", T, K);
    static const char *names[6] = {"emit", "exp_start", "exp_trans", "exp_end", "alpha", "scale"};
    Py_ssize_t counts[6] = {T * K, K, K * K, K, T * K, T};
    Py_buffer views[6];
    int got = 0;
    while (got < 6 && get_buffer(objs[got], &views[got], counts[got], 'd', got >= 4, names[got]))
        got++;
    double end_scale = 0.0;
    if (got == 6) {
        const double *emit = views[0].buf, *start = views[1].buf, *trans = views[2].buf, *end = views[3].buf;
        double *alpha = views[4].buf, *scale = views[5].buf;
        for (Py_ssize_t t = 0; t < T; t++) {
            double *row = alpha + t * K;
            const double *e = emit + t * K;
            if (t == 0) {
                for (Py_ssize_t k = 0; k < K; k++)
                    row[k] = start[k] * e[k];
            } else {
                const double *prev = row - K;
                for (Py_ssize_t k = 0; k < K; k++)
                    row[k] = 0.0;
                for (Py_ssize_t j = 0; j < K; j++) { /* row += prev[j] * trans[j]: contiguous in k */
                    const double p = prev[j], *tj = trans + j * K;
                    for (Py_ssize_t k = 0; k < K; k++)
                        row[k] += p * tj[k];
                }
                for (Py_ssize_t k = 0; k < K; k++)
                    row[k] *= e[k];
            }
            double total = 0.0;
            for (Py_ssize_t k = 0; k < K; k++)
                total += row[k];
            scale[t] = total;
            const double inverse = 1.0 / total;
            for (Py_ssize_t k = 0; k < K; k++)
                row[k] *= inverse;
        }
        const double *last = alpha + (T - 1) * K;
        for (Py_ssize_t k = 0; k < K; k++)
            end_scale += last[k] * end[k];
    }
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    return got == 6 ? PyFloat_FromDouble(end_scale) : NULL;
}

/* backward(emit (T, K) f64, scale (T,), exp_trans_from_to_T (K, K) i.e. exp_trans transposed, beta (T, K) in/out,
 * first, filled, T, K): fills beta[filled - 1] down to beta[first] from beta[filled]:
 * beta[u] = exp_trans @ (emit[u + 1] * beta[u + 1] / scale[u + 1]). */
static PyObject *backward(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    Py_ssize_t first, filled, T, K;
    if (!PyArg_ParseTuple(args, "OOOOnnnn", &objs[0], &objs[1], &objs[2], &objs[3], &first, &filled, &T, &K))
        return NULL;
    if (T < 1 || K < 1 || first < 0 || filled >= T || first > filled)
        return PyErr_Format(PyExc_ValueError, "backward: bad rows %zd..%zd of %zd", first, filled, T);
    static const char *names[4] = {"emit", "scale", "exp_trans_t", "beta"};
    Py_ssize_t counts[4] = {T * K, T, K * K, T * K};
    Py_buffer views[4];
    int got = 0;
    while (got < 4 && get_buffer(objs[got], &views[got], counts[got], 'd', got == 3, names[got]))
        got++;
    if (got == 4) {
        const double *emit = views[0].buf, *scale = views[1].buf, *trans_t = views[2].buf;
        double *beta = views[3].buf;
        double *work = PyMem_Malloc((size_t)K * sizeof(double));
        if (!work) {
            PyErr_NoMemory();
            got = -got;
        }
        for (Py_ssize_t u = filled - 1; work && u >= first; u--) {
            const double *next = beta + (u + 1) * K, *e = emit + (u + 1) * K;
            const double inverse = 1.0 / scale[u + 1];
            double *row = beta + u * K;
            for (Py_ssize_t k = 0; k < K; k++) {
                work[k] = e[k] * next[k] * inverse;
                row[k] = 0.0;
            }
            for (Py_ssize_t k = 0; k < K; k++) { /* row[j] += trans[j, k] * work[k]: contiguous in j */
                const double w = work[k], *tk = trans_t + k * K;
                for (Py_ssize_t j = 0; j < K; j++)
                    row[j] += tk[j] * w;
            }
        }
        PyMem_Free(work);
    }
    int ok = got == 4;
    for (int i = 0; i < (got < 0 ? -got : got); i++)
        PyBuffer_Release(&views[i]);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"viterbi", viterbi, METH_VARARGS, "Best tag path of one sentence: a list of T tag indices."},
    {"forward", forward, METH_VARARGS, "Scaled forward table of one sentence, in place; returns the end scale."},
    {"backward", backward, METH_VARARGS, "Rows of the scaled backward table of one sentence, in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_crf", "Linear-chain CRF loops (see elmol_nlu.crf).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__crf(void) { return PyModule_Create(&module); }
