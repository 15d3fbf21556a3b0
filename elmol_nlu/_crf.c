/* Viterbi decoding of one sentence, the inner loop of ``elmol_nlu.crf``.
 *
 * In numpy each token's step is four calls on a (K, K) table, and their fixed cost (a few microseconds
 * each) made decoding 61 us of a served utterance; here the loop is one call (12 us, ``python -m bench.crf``).
 * Results are those of the numpy formulation it replaces: scores add in float32 in the same order and ties
 * go to the lowest index, as argmax does (a maximum is exact in any order, so it may be vectorised).
 * The forward-backward passes stay in numpy: they are matrix-vector products, where BLAS already does
 * as well as a loop here (measured: 36 against 33 us forward, 18 against 20 backward).
 * Arguments are C-contiguous buffers (numpy arrays) whose shapes ``elmol_nlu.crf`` checks once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A read-only buffer of at least ``count`` contiguous float32, or 0 with an exception set. */
static int get_floats(PyObject *obj, Py_buffer *view, Py_ssize_t count, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0)
        return 0;
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    if (f[0] != 'f' || f[1] != '\0' || view->itemsize != 4 || view->len < count * 4) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd contiguous float32", name, count);
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

static PyMethodDef methods[] = {
    {"viterbi", viterbi, METH_VARARGS, "Best tag path of one sentence: a list of T tag indices."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_crf", "Linear-chain CRF loops (see elmol_nlu.crf).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__crf(void) { return PyModule_Create(&module); }
