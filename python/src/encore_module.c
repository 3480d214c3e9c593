/*
 * encore._encore: the thin binding of include/encore.h for Python.
 *
 * Written against CPython's stable ABI (Py_LIMITED_API 3.9, one abi3 module
 * for every Python from 3.9 on) and without numpy's C API: results come back
 * as bytearrays of float32 or int32, which the Python layer (python/encore)
 * wraps with numpy.frombuffer. This file converts types, releases the GIL
 * around tokenization and the forward pass, and maps encore_status to
 * exceptions; the API's shape (pipeline, encode) lives in Python.
 *
 * Objects:
 *   Model(path, weights="fp32")   an encore_model: immutable, shared by threads
 *   Session(model, device, precision, threads, max_batch_tokens)
 *                                 an encore_session: one thread at a time; a
 *                                 second thread that calls a busy session gets
 *                                 encore.Error instead of a data race
 */
#define Py_LIMITED_API 0x03090000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "encore.h"

/* ---- exceptions ----------------------------------------------------------- */

/* encore.Error and its subclasses, one per kind of failure (see make_errors). */
static PyObject *Error, *ModelFileError, *ModelError, *UnsupportedError, *InputError, *OutOfMemoryError,
    *DeviceError;

static PyObject *error_type(encore_status st) {
    switch (st) {
    case ENCORE_STATUS_IO_ERROR: return ModelFileError;
    case ENCORE_STATUS_BAD_MODEL: return ModelError;
    case ENCORE_STATUS_UNSUPPORTED: return UnsupportedError;
    case ENCORE_STATUS_INVALID_ARGUMENT:
    case ENCORE_STATUS_BAD_INPUT:
    case ENCORE_STATUS_TOO_LONG: return InputError;
    case ENCORE_STATUS_OUT_OF_MEMORY: return OutOfMemoryError;
    case ENCORE_STATUS_DEVICE_ERROR: return DeviceError;
    default: return Error;
    }
}

/* Raise the exception for st with message msg; the instance carries
 * .status, the status name ("bad input"). Returns NULL. */
static PyObject *raise_status(encore_status st, const char *msg) {
    PyObject *type = error_type(st);
    PyObject *exc = PyObject_CallFunction(type, "s", msg && *msg ? msg : encore_status_str(st));
    if (!exc) return NULL;
    PyObject *name = PyUnicode_FromString(encore_status_str(st));
    if (!name || PyObject_SetAttrString(exc, "status", name) < 0) {
        Py_XDECREF(name);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(name);
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *new_error(PyObject *module, const char *name, PyObject *bases, const char *doc) {
    char qualified[128];
    snprintf(qualified, sizeof qualified, "encore.%s", name);
    PyObject *type = PyErr_NewExceptionWithDoc(qualified, doc, bases, NULL);
    if (!type) return NULL;
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, type) < 0) {
        Py_DECREF(type);
        Py_DECREF(type);
        return NULL;
    }
    return type;
}

/* Error(Exception) is the base of all; each subclass also derives from the
 * built-in exception that fits, so `except FileNotFoundError` and
 * `except ValueError` catch what they should. */
static int make_errors(PyObject *m) {
    Error = new_error(m, "Error", PyExc_Exception,
                      "Base of encore's exceptions. .status names the C status (e.g. 'bad input').");
    if (!Error) return -1;
    struct {
        PyObject **slot;
        const char *name;
        PyObject *builtin;
        const char *doc;
    } kinds[] = {
        {&ModelFileError, "ModelFileError", PyExc_FileNotFoundError, "A model file is missing or unreadable."},
        {&ModelError, "ModelError", PyExc_ValueError, "A malformed model: config, weights or vocabulary."},
        {&UnsupportedError, "UnsupportedError", PyExc_ValueError, "An architecture, dtype or setting encore lacks."},
        {&InputError, "InputError", PyExc_ValueError, "Unusable input: invalid text, too long, bad argument."},
        {&OutOfMemoryError, "OutOfMemoryError", PyExc_MemoryError, "Out of host or device memory."},
        {&DeviceError, "DeviceError", PyExc_RuntimeError, "A GPU call failed."},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        PyObject *bases = PyTuple_Pack(2, Error, kinds[i].builtin);
        if (!bases) return -1;
        *kinds[i].slot = new_error(m, kinds[i].name, bases, kinds[i].doc);
        Py_DECREF(bases);
        if (!*kinds[i].slot) return -1;
    }
    return 0;
}

/* ---- Model ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    encore_model *model;
} ModelObject;

static PyTypeObject *ModelType;

static PyObject *model_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"path", "weights", "splade", NULL};
    PyObject *path = NULL;
    const char *weights = "fp32";
    int splade = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|sp:Model", keywords, PyUnicode_FSConverter, &path, &weights,
                                     &splade))
        return NULL;
    encore_model_params params = encore_model_default_params();
    params.splade = splade;
    if (strcmp(weights, "fp32") == 0) params.weights = ENCORE_WEIGHTS_FP32;
    else if (strcmp(weights, "bf16") == 0) params.weights = ENCORE_WEIGHTS_BF16;
    else if (strcmp(weights, "int8") == 0) params.weights = ENCORE_WEIGHTS_INT8;
    else if (strcmp(weights, "int8-dynamic") == 0) params.weights = ENCORE_WEIGHTS_INT8_DYNAMIC;
    else {
        Py_DECREF(path);
        PyErr_Format(PyExc_ValueError, "weights must be 'fp32', 'bf16', 'int8' or 'int8-dynamic', not '%s'", weights);
        return NULL;
    }
    const char *dir = PyBytes_AsString(path);
    if (!dir) {
        Py_DECREF(path);
        return NULL;
    }
    encore_model *model = NULL;
    encore_status st;
    char message[1024] = "";
    Py_BEGIN_ALLOW_THREADS
    st = encore_model_load(dir, params, &model);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_last_error());
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (st != ENCORE_STATUS_OK) return raise_status(st, message);
    ModelObject *self = (ModelObject *)((allocfunc)PyType_GetSlot(type, Py_tp_alloc))(type, 0);
    if (!self) {
        encore_model_free(model);
        return NULL;
    }
    self->model = model;
    return (PyObject *)self;
}

static void model_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    encore_model_free(((ModelObject *)self)->model);
    ((freefunc)PyType_GetSlot(type, Py_tp_free))(self);
    Py_DECREF(type);
}

static encore_model *model_of(PyObject *self) { return ((ModelObject *)self)->model; }

static PyObject *model_get_n_labels(PyObject *self, void *c) {
    return PyLong_FromLong(encore_model_n_labels(model_of(self)));
}
static PyObject *model_get_hidden_size(PyObject *self, void *c) {
    return PyLong_FromLong(encore_model_hidden_size(model_of(self)));
}
static PyObject *model_get_n_layers(PyObject *self, void *c) {
    return PyLong_FromLong(encore_model_n_layers(model_of(self)));
}
static PyObject *model_get_max_length(PyObject *self, void *c) {
    return PyLong_FromLong(encore_model_task_max_length(model_of(self), ENCORE_TASK_CLASSIFY));
}
static PyObject *model_get_embed_max_length(PyObject *self, void *c) {
    return PyLong_FromLong(encore_model_task_max_length(model_of(self), ENCORE_TASK_EMBED));
}
static PyObject *model_get_architecture(PyObject *self, void *c) {
    return PyUnicode_FromString(encore_model_architecture_name(model_of(self)));
}
static PyObject *model_get_task(PyObject *self, void *c) {
    return PyUnicode_FromString(encore_model_task(model_of(self)) == ENCORE_TASK_CLASSIFY ? "classify" : "embed");
}
static PyObject *model_get_score_function(PyObject *self, void *c) {
    switch (encore_model_score_function(model_of(self))) {
    case ENCORE_SCORE_FUNCTION_SOFTMAX: return PyUnicode_FromString("softmax");
    case ENCORE_SCORE_FUNCTION_SIGMOID: return PyUnicode_FromString("sigmoid");
    default: return PyUnicode_FromString("none");
    }
}
static PyObject *model_get_pooling(PyObject *self, void *c) {
    return PyUnicode_FromString(encore_model_pooling(model_of(self)) == ENCORE_POOLING_CLS ? "cls" : "mean");
}
static PyObject *model_get_vocab_size(PyObject *self, void *c) {
    return PyLong_FromLong(encore_model_vocab_size(model_of(self)));
}
static PyObject *model_get_is_sparse(PyObject *self, void *c) {
    return PyBool_FromLong(encore_model_is_sparse(model_of(self)));
}
static PyObject *model_get_labels(PyObject *self, void *c) {
    int n = encore_model_n_labels(model_of(self));
    PyObject *labels = PyTuple_New(n);
    for (int i = 0; labels && i < n; i++) {
        const char *label = encore_model_label(model_of(self), i);
        PyObject *s = PyUnicode_DecodeUTF8(label ? label : "", label ? (Py_ssize_t)strlen(label) : 0, "replace");
        if (!s) {
            Py_DECREF(labels);
            return NULL;
        }
        PyTuple_SetItem(labels, i, s);
    }
    return labels;
}

static PyGetSetDef model_getset[] = {
    {"n_labels", model_get_n_labels, NULL, "Labels of the classification head (0 without one).", NULL},
    {"labels", model_get_labels, NULL, "id2label as a tuple.", NULL},
    {"hidden_size", model_get_hidden_size, NULL, "Width of the hidden states and embeddings.", NULL},
    {"n_layers", model_get_n_layers, NULL, "Encoder layers.", NULL},
    {"max_length", model_get_max_length, NULL, "Tokens one input may hold for classification.", NULL},
    {"embed_max_length", model_get_embed_max_length, NULL, "Tokens one input may hold for embeddings.", NULL},
    {"architecture", model_get_architecture, NULL, "The config's architecture name.", NULL},
    {"task", model_get_task, NULL, "'classify' with a classification head, else 'embed'.", NULL},
    {"score_function", model_get_score_function, NULL, "'softmax', 'sigmoid' or 'none'.", NULL},
    {"pooling", model_get_pooling, NULL, "The directory's pooling: 'mean' or 'cls'.", NULL},
    {"vocab_size", model_get_vocab_size, NULL, "Entries of the vocabulary (the width of SPLADE weights).", NULL},
    {"is_sparse", model_get_is_sparse, NULL, "True for a SPLADE model (Session.embed_sparse).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* UTF-8 bytes of a str, or NULL with an exception: TypeError for anything
 * but str, UnicodeEncodeError (a ValueError) for lone surrogates, InputError
 * for U+0000, which a C string cannot carry. what names the argument. */
static PyObject *utf8_of(PyObject *obj, const char *what, Py_ssize_t index) {
    if (!PyUnicode_Check(obj)) {
        PyObject *type = PyObject_Type(obj);
        PyObject *tname = type ? PyObject_GetAttrString(type, "__name__") : NULL;
        if (index >= 0)
            PyErr_Format(PyExc_TypeError, "%s %zd must be a str, not %S", what, index, tname ? tname : Py_None);
        else
            PyErr_Format(PyExc_TypeError, "%s must be a str, not %S", what, tname ? tname : Py_None);
        Py_XDECREF(tname);
        Py_XDECREF(type);
        return NULL;
    }
    PyObject *bytes = PyUnicode_AsUTF8String(obj);
    if (!bytes) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
        PyErr_Clear(); /* a lone surrogate: not text that UTF-8 (or a tokenizer) can carry */
        char msg[200];
        if (index >= 0)
            snprintf(msg, sizeof msg, "%s %zd is not valid Unicode: it holds a lone surrogate (U+D800..U+DFFF)", what,
                     index);
        else
            snprintf(msg, sizeof msg, "%s is not valid Unicode: it holds a lone surrogate (U+D800..U+DFFF)", what);
        return raise_status(ENCORE_STATUS_BAD_INPUT, msg);
    }
    char *data = NULL;
    Py_ssize_t len = 0;
    if (PyBytes_AsStringAndSize(bytes, &data, &len) < 0) {
        Py_DECREF(bytes);
        return NULL;
    }
    if (memchr(data, 0, (size_t)len)) {
        Py_DECREF(bytes);
        char msg[160];
        if (index >= 0)
            snprintf(msg, sizeof msg, "%s %zd contains U+0000, which encore cannot take (texts are C strings)", what,
                     index);
        else
            snprintf(msg, sizeof msg, "%s contains U+0000, which encore cannot take (texts are C strings)", what);
        return raise_status(ENCORE_STATUS_BAD_INPUT, msg);
    }
    return bytes;
}

/* The UTF-8 of every str in list (what names an item in errors): *keep gets
 * a new list of the bytes objects, *items (calloc'ed) their char pointers,
 * which live as long as *keep. Returns 0, or -1 with the exception set (the
 * caller frees *items and releases *keep either way). */
static int utf8_strings(PyObject *list, const char *what, PyObject **keep, const char ***items) {
    const Py_ssize_t n = PyList_Size(list);
    *keep = PyList_New(n);
    *items = calloc((size_t)(n > 0 ? n : 1), sizeof **items);
    if (!*keep || !*items) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = utf8_of(PyList_GetItem(list, i), what, i);
        if (!b) return -1;
        PyList_SetItem(*keep, i, b);
        (*items)[i] = PyBytes_AsString(b);
    }
    return 0;
}

/* utf8_strings for an argument that is None or a list of str (arg names it
 * in the TypeError): *n 0 and *items NULL for None. Returns 0, or -1 with the
 * exception set (the caller frees *items and releases *keep either way). */
static int optional_utf8_strings(PyObject *obj, const char *arg, const char *what, PyObject **keep,
                                 const char ***items, int *n) {
    *n = 0;
    if (obj == Py_None) return 0;
    if (!PyList_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be None or a list of str", arg);
        return -1;
    }
    if (PyList_Size(obj) > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "%s has more than %d items", arg, INT_MAX);
        return -1;
    }
    *n = (int)PyList_Size(obj);
    return utf8_strings(obj, what, keep, items);
}

static int parse_task(const char *name, encore_task *task) {
    if (strcmp(name, "classify") == 0) *task = ENCORE_TASK_CLASSIFY;
    else if (strcmp(name, "embed") == 0) *task = ENCORE_TASK_EMBED;
    else {
        PyErr_Format(PyExc_ValueError, "task must be 'classify' or 'embed', not '%s'", name);
        return -1;
    }
    return 0;
}

static PyObject *int32_buffer(const int32_t *data, Py_ssize_t n) {
    return PyByteArray_FromStringAndSize((const char *)data, n * (Py_ssize_t)sizeof(int32_t));
}

/* Model.tokenize(text, text_pair=None, task="classify", truncation=True) ->
 * dict of int32 bytearrays: ids, type_ids, offsets (n, 2: UTF-8 byte
 * ranges), sequence_ids, word_ids; and n_tokens, n_untruncated. */
static PyObject *model_tokenize(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"text", "text_pair", "task", "truncation", NULL};
    PyObject *text = NULL, *pair = Py_None;
    const char *task_name = "classify";
    int truncation = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|Osp:tokenize", keywords, &text, &pair, &task_name,
                                     &truncation))
        return NULL;
    encore_task task;
    if (parse_task(task_name, &task) < 0) return NULL;
    PyObject *tb = utf8_of(text, "text", -1);
    if (!tb) return NULL;
    PyObject *pb = NULL;
    if (pair != Py_None && !(pb = utf8_of(pair, "text_pair", -1))) {
        Py_DECREF(tb);
        return NULL;
    }
    encore_input input = {PyBytes_AsString(tb), pb ? PyBytes_AsString(pb) : NULL};
    encore_encoding *enc = NULL;
    encore_status st;
    char message[1024] = "";
    Py_BEGIN_ALLOW_THREADS
    st = encore_model_tokenize_for_task(model_of(self), input, task, truncation, &enc);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_last_error());
    Py_END_ALLOW_THREADS
    Py_DECREF(tb);
    Py_XDECREF(pb);
    if (st != ENCORE_STATUS_OK) return raise_status(st, message);
    PyObject *ids = int32_buffer(enc->ids, enc->n_tokens);
    PyObject *type_ids = int32_buffer(enc->type_ids, enc->n_tokens);
    PyObject *offsets = int32_buffer(enc->offsets, 2 * (Py_ssize_t)enc->n_tokens);
    PyObject *sequence_ids = int32_buffer(enc->sequence_ids, enc->n_tokens);
    PyObject *word_ids = int32_buffer(enc->word_ids, enc->n_tokens);
    PyObject *out = NULL;
    if (ids && type_ids && offsets && sequence_ids && word_ids)
        out = Py_BuildValue("{sOsOsOsOsOsisi}", "ids", ids, "type_ids", type_ids, "offsets", offsets, "sequence_ids",
                            sequence_ids, "word_ids", word_ids, "n_tokens", (int)enc->n_tokens, "n_untruncated",
                            (int)enc->n_untruncated);
    Py_XDECREF(ids);
    Py_XDECREF(type_ids);
    Py_XDECREF(offsets);
    Py_XDECREF(sequence_ids);
    Py_XDECREF(word_ids);
    encore_encoding_free(enc);
    return out;
}

/* Model.token(id) -> the vocabulary entry, or None out of range. */
static PyObject *model_token(PyObject *self, PyObject *arg) {
    long id = PyLong_AsLong(arg);
    if (id == -1 && PyErr_Occurred()) return NULL;
    const char *tok = (id < INT32_MIN || id > INT32_MAX) ? NULL : encore_model_token(model_of(self), (int32_t)id);
    if (!tok) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(tok, (Py_ssize_t)strlen(tok), "replace");
}

static PyMethodDef model_methods[] = {
    {"tokenize", (PyCFunction)(void (*)(void))model_tokenize, METH_VARARGS | METH_KEYWORDS,
     "tokenize(text, text_pair=None, task='classify', truncation=True) -> dict of int32 buffers"},
    {"token", model_token, METH_O, "token(id) -> str or None"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot model_slots[] = {
    {Py_tp_new, (void *)model_new},
    {Py_tp_dealloc, (void *)model_dealloc},
    {Py_tp_getset, model_getset},
    {Py_tp_methods, model_methods},
    {Py_tp_doc, "Model(path, weights='fp32'): a loaded model directory, shared by any number of threads."},
    {0, NULL},
};

static PyType_Spec model_spec = {"encore._encore.Model", sizeof(ModelObject), 0, Py_TPFLAGS_DEFAULT, model_slots};

/* ---- Session -------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *model; /* the ModelObject, kept alive as long as the session */
    encore_session *session;
    int busy;        /* a call is running with the GIL released (read and set under the GIL) */
} SessionObject;

static PyTypeObject *SessionType;

static PyObject *session_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"model", "device", "precision", "threads", "max_batch_tokens", NULL};
    PyObject *model = NULL;
    const char *device = "cpu", *precision = "default";
    int threads = 0, max_batch_tokens = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|ssii:Session", keywords, ModelType, &model, &device,
                                     &precision, &threads, &max_batch_tokens))
        return NULL;
    encore_session_params params = encore_session_default_params();
    if (strcmp(device, "cpu") == 0) params.device = ENCORE_DEVICE_CPU;
    else if (strcmp(device, "cuda") == 0) params.device = ENCORE_DEVICE_CUDA;
    else if (strcmp(device, "auto") == 0) params.device = ENCORE_DEVICE_AUTO;
    else return PyErr_Format(PyExc_ValueError, "device must be 'cpu', 'cuda' or 'auto', not '%s'", device);
    if (strcmp(precision, "default") == 0) params.precision = ENCORE_PRECISION_DEFAULT;
    else if (strcmp(precision, "fp32") == 0) params.precision = ENCORE_PRECISION_FP32;
    else if (strcmp(precision, "fp16") == 0) params.precision = ENCORE_PRECISION_FP16;
    else if (strcmp(precision, "bf16") == 0) params.precision = ENCORE_PRECISION_BF16;
    else
        return PyErr_Format(PyExc_ValueError, "precision must be None, 'fp32', 'fp16' or 'bf16', not '%s'",
                            precision);
    if (threads < 0) return PyErr_Format(PyExc_ValueError, "threads must be >= 0 (0: all cores), not %d", threads);
    if (max_batch_tokens < 0)
        return PyErr_Format(PyExc_ValueError, "max_batch_tokens must be >= 0 (0: the default), not %d",
                            max_batch_tokens);
    params.n_threads = threads;
    params.max_batch_tokens = max_batch_tokens;
    encore_session *session = NULL;
    encore_status st;
    char message[1024] = "";
    Py_BEGIN_ALLOW_THREADS
    st = encore_session_create(model_of(model), params, &session);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_last_error());
    Py_END_ALLOW_THREADS
    if (st != ENCORE_STATUS_OK) return raise_status(st, message);
    SessionObject *self = (SessionObject *)((allocfunc)PyType_GetSlot(type, Py_tp_alloc))(type, 0);
    if (!self) {
        encore_session_free(session);
        return NULL;
    }
    Py_INCREF(model);
    self->model = model;
    self->session = session;
    self->busy = 0;
    return (PyObject *)self;
}

static void session_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    SessionObject *s = (SessionObject *)self;
    encore_session_free(s->session); /* before the model it uses */
    Py_XDECREF(s->model);
    ((freefunc)PyType_GetSlot(type, Py_tp_free))(self);
    Py_DECREF(type);
}

static PyObject *session_get_device(PyObject *self, void *c) {
    return PyUnicode_FromString(encore_session_device(((SessionObject *)self)->session) == ENCORE_DEVICE_CUDA ? "cuda"
                                                                                                                : "cpu");
}

static PyGetSetDef session_getset[] = {
    {"device", session_get_device, NULL, "The device the session runs on after any fallback.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* The UTF-8 of texts (a list or tuple of str) and text_pairs (None or a
 * sequence of the same length of str or None) as encore_inputs: *inputs
 * (calloc'ed, n of them) points into the bytes objects held by *keep, which
 * the caller releases (Py_XDECREF) after the calls that read them; free
 * *inputs. Returns 0, or -1 with an exception (the outputs then owned by
 * the caller all the same). */
/* A session runs one call at a time. Claim it (with the GIL held) before a
 * call that releases the GIL; 0 with the error raised when another thread's
 * call holds it. */
static int session_claim(SessionObject *s) {
    if (s->busy) {
        raise_status(ENCORE_STATUS_INVALID_ARGUMENT,
                     "this session is running a call on another thread; give each thread its own session");
        return 0;
    }
    s->busy = 1;
    return 1;
}

/* After the call, with the GIL back: free the session for the next call,
 * and raise the call's error (message: the session's last error, copied
 * while the GIL was released). Returns 1 when the call succeeded. */
static int session_release(SessionObject *s, encore_status st, const char *message) {
    s->busy = 0;
    if (st == ENCORE_STATUS_OK) return 1;
    raise_status(st, message);
    return 0;
}

static int gather_inputs(PyObject *texts, PyObject *pairs, Py_ssize_t *n_out, encore_input **inputs_out,
                         PyObject **keep_out) {
    *n_out = 0;
    *inputs_out = NULL;
    *keep_out = NULL;
    if (!PyList_Check(texts) && !PyTuple_Check(texts)) {
        PyErr_Format(PyExc_TypeError, "texts must be a list or tuple of str");
        return -1;
    }
    Py_ssize_t n = PySequence_Size(texts);
    if (n < 0) return -1;
    if (n == 0) {
        raise_status(ENCORE_STATUS_INVALID_ARGUMENT, "no texts: the list is empty");
        return -1;
    }
    if (n > INT32_MAX) {
        raise_status(ENCORE_STATUS_INVALID_ARGUMENT, "too many texts in one call");
        return -1;
    }
    if (pairs != Py_None) {
        if (!PyList_Check(pairs) && !PyTuple_Check(pairs)) {
            PyErr_Format(PyExc_TypeError, "text_pairs must be None or a list or tuple of str or None");
            return -1;
        }
        if (PySequence_Size(pairs) != n) {
            PyErr_Format(PyExc_ValueError, "text_pairs has %zd items for %zd texts", PySequence_Size(pairs), n);
            return -1;
        }
    }
    PyObject *keep = *keep_out = PyList_New(0);
    encore_input *inputs = *inputs_out = calloc((size_t)n, sizeof *inputs);
    if (!keep || !inputs) {
        PyErr_NoMemory();
        return -1;
    }
    *n_out = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_GetItem(texts, i);
        if (!item) return -1;
        PyObject *b = utf8_of(item, "text", i);
        Py_DECREF(item);
        if (!b) return -1;
        inputs[i].text = PyBytes_AsString(b);
        int rc = PyList_Append(keep, b);
        Py_DECREF(b);
        if (rc < 0) return -1;
        if (pairs == Py_None) continue;
        item = PySequence_GetItem(pairs, i);
        if (!item) return -1;
        if (item != Py_None) {
            b = utf8_of(item, "text_pair", i);
            Py_DECREF(item);
            if (!b) return -1;
            inputs[i].text_pair = PyBytes_AsString(b);
            rc = PyList_Append(keep, b);
            Py_DECREF(b);
            if (rc < 0) return -1;
        } else {
            Py_DECREF(item);
        }
    }
    return 0;
}

enum { RUN_LOGITS = 0, RUN_CLASSIFY = 1, RUN_EMBED = 2, RUN_SPARSE = 3 };

/* Session.run(kind, texts, text_pairs=None, truncation=True, pooling="default",
 * normalize=False) -> bytearray of float32, (n, width) row-major: width is
 * n_labels for kind 0 (logits) and 1 (scores), hidden_size for 2 (embeddings),
 * vocab_size for 3 (SPLADE weights).
 * texts: a list or tuple of str; text_pairs: None or a sequence of the same
 * length of str or None. Embeddings are always cut at the embedding limit, as
 * sentence-transformers does; truncation applies to the other two kinds. */
static PyObject *session_run(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"kind", "texts", "text_pairs", "truncation", "pooling", "normalize", NULL};
    SessionObject *s = (SessionObject *)self;
    int kind = 0, truncation = 1, normalize = 0;
    PyObject *texts = NULL, *pairs = Py_None;
    const char *pooling_name = "default";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iO|Opsp:run", keywords, &kind, &texts, &pairs, &truncation,
                                     &pooling_name, &normalize))
        return NULL;
    if (kind < RUN_LOGITS || kind > RUN_SPARSE) return PyErr_Format(PyExc_ValueError, "unknown kind %d", kind);
    encore_pooling pooling;
    if (strcmp(pooling_name, "default") == 0) pooling = ENCORE_POOLING_DEFAULT;
    else if (strcmp(pooling_name, "mean") == 0) pooling = ENCORE_POOLING_MEAN;
    else if (strcmp(pooling_name, "cls") == 0) pooling = ENCORE_POOLING_CLS;
    else return PyErr_Format(PyExc_ValueError, "pooling must be 'mean' or 'cls', not '%s'", pooling_name);
    encore_model *model = model_of(s->model);
    const int width = kind == RUN_SPARSE  ? encore_model_vocab_size(model)
                      : kind == RUN_EMBED ? encore_model_hidden_size(model)
                                          : encore_model_n_labels(model);

    /* Hold the UTF-8 of every text while the GIL is released. */
    PyObject *keep = NULL;
    encore_input *inputs = NULL;
    encore_encoding **encs = NULL;
    PyObject *out = NULL;
    Py_ssize_t n = 0;
    if (gather_inputs(texts, pairs, &n, &inputs, &keep) < 0) goto done;
    if (width <= 0) {
        raise_status(ENCORE_STATUS_INVALID_ARGUMENT,
                     "this model has no classification head: it gives embeddings, not labels");
        goto done;
    }
    encs = calloc((size_t)n, sizeof *encs);
    if (!encs) {
        PyErr_NoMemory();
        goto done;
    }
    out = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)width * (Py_ssize_t)sizeof(float));
    if (!out) goto done;
    float *dst = (float *)PyByteArray_AsString(out);
    const int embeds = kind == RUN_EMBED || kind == RUN_SPARSE;
    const encore_task task = embeds ? ENCORE_TASK_EMBED : ENCORE_TASK_CLASSIFY;
    const int truncate = embeds ? 1 : truncation;
    encore_status st = ENCORE_STATUS_OK;
    Py_ssize_t failed = -1;
    char message[1024] = "";
    if (!session_claim(s)) {
        Py_CLEAR(out);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && st == ENCORE_STATUS_OK; i++) {
        st = encore_model_tokenize_for_task(model, inputs[i], task, truncate, &encs[i]);
        if (st != ENCORE_STATUS_OK) {
            failed = i;
            snprintf(message, sizeof message, "%s", encore_last_error());
        }
    }
    if (st == ENCORE_STATUS_OK) {
        const encore_encoding *const *e = (const encore_encoding *const *)encs;
        if (kind == RUN_LOGITS) st = encore_session_logits_encoded(s->session, e, (int)n, dst);
        else if (kind == RUN_CLASSIFY) st = encore_session_classify_encoded(s->session, e, (int)n, dst);
        else if (kind == RUN_SPARSE) st = encore_session_embed_sparse_encoded(s->session, e, (int)n, dst);
        else st = encore_session_embed_encoded(s->session, e, (int)n, pooling, normalize, dst);
        if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_session_last_error(s->session));
    }
    Py_END_ALLOW_THREADS
    s->busy = 0;
    if (st != ENCORE_STATUS_OK) {
        Py_CLEAR(out);
        if (failed >= 0) {
            char full[1100];
            snprintf(full, sizeof full, "text %zd: %s", failed, message);
            raise_status(st, full);
        } else {
            raise_status(st, message);
        }
    }
done:
    if (encs)
        for (Py_ssize_t i = 0; i < n; i++) encore_encoding_free(encs[i]);
    free(encs);
    free(inputs);
    Py_XDECREF(keep);
    return out;
}

/* Session.hidden_states(texts, text_pairs=None, truncation=False,
 * truncation_side="right") -> (bytearray of float32, bytearray of int32):
 * the last hidden state of every token of every input, special tokens
 * included ((sum of n_tokens, hidden_size) row-major, the inputs one after
 * another), and each input's n_tokens. Inputs are tokenized as for
 * classification (transformers' tokenizer call): truncation cuts them to
 * the model's max_length, without it an over-long input is InputError. */
static PyObject *session_hidden_states(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"texts", "text_pairs", "truncation", "truncation_side", NULL};
    SessionObject *s = (SessionObject *)self;
    PyObject *texts = NULL, *pairs = Py_None;
    int truncation = 0;
    const char *side = "right";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|Ops:hidden_states", keywords, &texts, &pairs, &truncation,
                                     &side))
        return NULL;
    encore_tokenize_params params = encore_tokenize_default_params();
    params.task = ENCORE_TASK_CLASSIFY;
    params.truncate = truncation;
    if (strcmp(side, "right") == 0) params.truncation_side = ENCORE_TRUNCATION_SIDE_RIGHT;
    else if (strcmp(side, "left") == 0) params.truncation_side = ENCORE_TRUNCATION_SIDE_LEFT;
    else return PyErr_Format(PyExc_ValueError, "truncation_side must be 'right' or 'left', not '%s'", side);
    encore_model *model = model_of(s->model);
    const int hidden = encore_model_hidden_size(model);
    PyObject *keep = NULL, *out = NULL, *counts = NULL, *result = NULL;
    encore_input *inputs = NULL;
    encore_encoding **encs = NULL;
    Py_ssize_t n = 0;
    int claimed = 0;
    if (gather_inputs(texts, pairs, &n, &inputs, &keep) < 0) goto done;
    if (hidden <= 0) {
        raise_status(ENCORE_STATUS_BAD_MODEL, "the model reports no hidden size");
        goto done;
    }
    encs = calloc((size_t)n, sizeof *encs);
    counts = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    if (!encs || !counts) {
        if (!encs) PyErr_NoMemory();
        goto done;
    }
    if (!session_claim(s)) goto done;
    claimed = 1;
    encore_status st = ENCORE_STATUS_OK;
    Py_ssize_t failed = -1;
    char message[1024] = "";
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && st == ENCORE_STATUS_OK; i++) {
        st = encore_model_tokenize_with(model, inputs[i], params, &encs[i]);
        if (st != ENCORE_STATUS_OK) {
            failed = i;
            snprintf(message, sizeof message, "%s", encore_last_error());
        }
    }
    Py_END_ALLOW_THREADS
    if (st != ENCORE_STATUS_OK) {
        char full[1100];
        snprintf(full, sizeof full, "text %zd: %s", failed, message);
        raise_status(st, full);
        goto done;
    }
    /* Every size checked before the buffer is made: the rows of all inputs
     * times hidden_size floats must fit a Py_ssize_t of bytes. */
    int32_t *count = (int32_t *)PyByteArray_AsString(counts);
    Py_ssize_t rows = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const int32_t t = encs[i]->n_tokens;
        if (t < 1 || rows > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(float) / hidden - t) {
            raise_status(ENCORE_STATUS_INVALID_ARGUMENT, t < 1 ? "an input has no tokens"
                                                               : "too many tokens in one call for one buffer");
            goto done;
        }
        count[i] = t;
        rows += t;
    }
    out = PyByteArray_FromStringAndSize(NULL, rows * (Py_ssize_t)hidden * (Py_ssize_t)sizeof(float));
    if (!out) goto done;
    float *dst = (float *)PyByteArray_AsString(out);
    Py_BEGIN_ALLOW_THREADS
    st = encore_session_hidden_states_encoded(s->session, (const encore_encoding *const *)encs, (int)n, dst);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_session_last_error(s->session));
    Py_END_ALLOW_THREADS
    if (st != ENCORE_STATUS_OK) {
        raise_status(st, message);
        goto done;
    }
    result = PyTuple_Pack(2, out, counts);
done:
    if (claimed) s->busy = 0;
    if (encs)
        for (Py_ssize_t i = 0; i < n; i++) encore_encoding_free(encs[i]);
    free(encs);
    free(inputs);
    Py_XDECREF(keep);
    Py_XDECREF(out);
    Py_XDECREF(counts);
    return result;
}

/* Session.fill_mask(text, top_k=5, targets=None) -> [[(score, token,
 * token_str, sequence), ...] per mask]: encore_session_fill_mask. targets:
 * None or a list of str. */
static PyObject *session_fill_mask(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"text", "top_k", "targets", NULL};
    SessionObject *s = (SessionObject *)self;
    PyObject *text = NULL, *targets = Py_None;
    int top_k = 5;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|iO:fill_mask", keywords, &text, &top_k, &targets)) return NULL;
    PyObject *text_bytes = utf8_of(text, "the text", -1);
    if (!text_bytes) return NULL;
    PyObject *keep = NULL, *out = NULL;
    const char **tlist = NULL;
    encore_fill_mask_params p = encore_fill_mask_default_params();
    p.top_k = top_k;
    if (optional_utf8_strings(targets, "targets", "target", &keep, &tlist, &p.n_targets) < 0) goto done;
    p.targets = tlist;
    if (!session_claim(s)) goto done;
    encore_fill_mask_result *r = NULL;
    encore_status st;
    char message[1024] = "";
    const char *t = PyBytes_AsString(text_bytes);
    Py_BEGIN_ALLOW_THREADS
    st = encore_session_fill_mask(s->session, t, p, &r);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_session_last_error(s->session));
    Py_END_ALLOW_THREADS
    if (!session_release(s, st, message)) goto done;
    out = PyList_New(r->n_masks);
    for (int m = 0; out && m < r->n_masks; m++) {
        PyObject *row = PyList_New(r->k);
        if (!row) {
            Py_CLEAR(out);
            break;
        }
        PyList_SetItem(out, m, row);
        for (int j = 0; j < r->k; j++) {
            const encore_fill_mask_prediction *pr = &r->predictions[(size_t)m * r->k + j];
            PyObject *item = Py_BuildValue("(disO)", (double)pr->score, (int)pr->token, pr->token_str, Py_None);
            PyObject *seq = item ? PyUnicode_DecodeUTF8(pr->sequence, (Py_ssize_t)strlen(pr->sequence), "replace")
                                 : NULL;
            if (!item || !seq) {
                Py_XDECREF(item);
                Py_CLEAR(out);
                break;
            }
            PyTuple_SetItem(item, 3, seq); /* steals seq, drops the None */
            PyList_SetItem(row, j, item);
        }
    }
    encore_fill_mask_result_free(r);
done:
    free(tlist);
    Py_XDECREF(keep);
    Py_DECREF(text_bytes);
    return out;
}

/* Session.zero_shot(text, labels, hypothesis_template=None,
 * multi_label=False) -> (scores in the labels' order, order best first):
 * encore_session_zero_shot. labels: a list of str. */
static PyObject *session_zero_shot(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"text", "labels", "hypothesis_template", "multi_label", NULL};
    SessionObject *s = (SessionObject *)self;
    PyObject *text = NULL, *labels = NULL, *tpl = Py_None;
    int multi_label = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!|Op:zero_shot", keywords, &text, &PyList_Type, &labels, &tpl,
                                     &multi_label))
        return NULL;
    PyObject *text_bytes = utf8_of(text, "the text", -1);
    if (!text_bytes) return NULL;
    PyObject *tpl_bytes = NULL, *keep = NULL, *out = NULL;
    const char **llist = NULL;
    float *scores = NULL;
    int *order = NULL;
    const Py_ssize_t n = PyList_Size(labels);
    if (tpl != Py_None && !(tpl_bytes = utf8_of(tpl, "hypothesis_template", -1))) goto done;
    if (utf8_strings(labels, "candidate label", &keep, &llist) < 0) goto done;
    scores = calloc((size_t)(n > 0 ? n : 1), sizeof *scores);
    order = calloc((size_t)(n > 0 ? n : 1), sizeof *order);
    if (!scores || !order) {
        PyErr_NoMemory();
        goto done;
    }
    if (!session_claim(s)) goto done;
    encore_zero_shot_params p = encore_zero_shot_default_params();
    if (tpl_bytes) p.hypothesis_template = PyBytes_AsString(tpl_bytes);
    p.multi_label = multi_label;
    encore_status st;
    char message[1024] = "";
    const char *t = PyBytes_AsString(text_bytes);
    Py_BEGIN_ALLOW_THREADS
    st = encore_session_zero_shot(s->session, t, llist, (int)n, p, scores, order);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_session_last_error(s->session));
    Py_END_ALLOW_THREADS
    if (!session_release(s, st, message)) goto done;
    PyObject *sl = PyList_New(n), *ol = PyList_New(n);
    for (Py_ssize_t i = 0; sl && ol && i < n; i++) {
        PyList_SetItem(sl, i, PyFloat_FromDouble((double)scores[i]));
        PyList_SetItem(ol, i, PyLong_FromLong(order[i]));
    }
    if (sl && ol) out = PyTuple_Pack(2, sl, ol);
    Py_XDECREF(sl);
    Py_XDECREF(ol);
done:
    free(llist);
    free(scores);
    free(order);
    Py_XDECREF(keep);
    Py_XDECREF(tpl_bytes);
    Py_DECREF(text_bytes);
    return out;
}

/* Session.token_classify(text, aggregation_strategy="none", ignore_labels=None,
 * stride=-1) -> [(entity, score, index, word, start, end), ...]:
 * encore_session_token_classify. ignore_labels: None (the pipeline's ["O"])
 * or a list of str; stride -1: none. index is -1 for the grouping strategies. */
static PyObject *session_token_classify(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"text", "aggregation_strategy", "ignore_labels", "stride", NULL};
    SessionObject *s = (SessionObject *)self;
    PyObject *text = NULL, *ignore = Py_None;
    const char *strategy = "none";
    int stride = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|sOi:token_classify", keywords, &text, &strategy, &ignore,
                                     &stride))
        return NULL;
    PyObject *text_bytes = utf8_of(text, "the text", -1);
    if (!text_bytes) return NULL;
    PyObject *keep = NULL, *out = NULL;
    const char **ilist = NULL;
    encore_token_classify_params p = encore_token_classify_default_params();
    p.stride = stride;
    if (encore_aggregation_from_name(strategy, &p.aggregation) != ENCORE_STATUS_OK) {
        raise_status(ENCORE_STATUS_INVALID_ARGUMENT, encore_last_error());
        goto done;
    }
    if (optional_utf8_strings(ignore, "ignore_labels", "ignore label", &keep, &ilist, &p.n_ignore_labels) < 0)
        goto done;
    p.ignore_labels = ilist;
    if (!session_claim(s)) goto done;
    encore_token_classify_result *r = NULL;
    encore_status st;
    char message[1024] = "";
    const char *t = PyBytes_AsString(text_bytes);
    Py_BEGIN_ALLOW_THREADS
    st = encore_session_token_classify(s->session, t, p, &r);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_session_last_error(s->session));
    Py_END_ALLOW_THREADS
    if (!session_release(s, st, message)) goto done;
    out = PyList_New(r->n_entities);
    for (int i = 0; out && i < r->n_entities; i++) {
        const encore_entity *e = &r->entities[i];
        PyObject *word = PyUnicode_DecodeUTF8(e->word, (Py_ssize_t)strlen(e->word), "replace");
        PyObject *item = word ? Py_BuildValue("(sdiOii)", e->entity, (double)e->score, (int)e->index, word,
                                              (int)e->start, (int)e->end)
                              : NULL;
        Py_XDECREF(word);
        if (!item) {
            Py_CLEAR(out);
            break;
        }
        PyList_SetItem(out, i, item);
    }
    encore_token_classify_result_free(r);
done:
    free(ilist);
    Py_XDECREF(keep);
    Py_DECREF(text_bytes);
    return out;
}

/* Session.question_answer(question, context, top_k=1, doc_stride=-1,
 * max_answer_len=15, max_seq_len=0, max_question_len=64,
 * handle_impossible_answer=False, align_to_words=True) -> [(score, start,
 * end, answer), ...] best first: encore_session_question_answer. */
static PyObject *session_question_answer(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"question", "context", "top_k", "doc_stride", "max_answer_len", "max_seq_len",
                               "max_question_len", "handle_impossible_answer", "align_to_words", NULL};
    SessionObject *s = (SessionObject *)self;
    PyObject *question = NULL, *context = NULL;
    encore_qa_params p = encore_qa_default_params();
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|iiiiipp:question_answer", keywords, &question, &context,
                                     &p.top_k, &p.doc_stride, &p.max_answer_len, &p.max_seq_len, &p.max_question_len,
                                     &p.handle_impossible_answer, &p.align_to_words))
        return NULL;
    PyObject *q_bytes = utf8_of(question, "the question", -1);
    if (!q_bytes) return NULL;
    PyObject *c_bytes = utf8_of(context, "the context", -1);
    if (!c_bytes) {
        Py_DECREF(q_bytes);
        return NULL;
    }
    PyObject *out = NULL;
    if (!session_claim(s)) goto done;
    encore_qa_result *r = NULL;
    encore_status st;
    char message[1024] = "";
    const char *q = PyBytes_AsString(q_bytes), *c = PyBytes_AsString(c_bytes);
    Py_BEGIN_ALLOW_THREADS
    st = encore_session_question_answer(s->session, q, c, p, &r);
    if (st != ENCORE_STATUS_OK) snprintf(message, sizeof message, "%s", encore_session_last_error(s->session));
    Py_END_ALLOW_THREADS
    if (!session_release(s, st, message)) goto done;
    out = PyList_New(r->n_answers);
    for (int i = 0; out && i < r->n_answers; i++) {
        const encore_qa_answer *a = &r->answers[i];
        PyObject *text = PyUnicode_DecodeUTF8(a->answer, (Py_ssize_t)strlen(a->answer), "strict");
        PyObject *item = text ? Py_BuildValue("(diiO)", (double)a->score, a->start, a->end, text) : NULL;
        Py_XDECREF(text);
        if (!item) {
            Py_CLEAR(out);
            break;
        }
        PyList_SetItem(out, i, item);
    }
    encore_qa_result_free(r);
done:
    Py_DECREF(q_bytes);
    Py_DECREF(c_bytes);
    return out;
}

static PyMethodDef session_methods[] = {
    {"run", (PyCFunction)(void (*)(void))session_run, METH_VARARGS | METH_KEYWORDS,
     "run(kind, texts, text_pairs=None, truncation=True, pooling='default', normalize=False) -> bytearray"},
    {"hidden_states", (PyCFunction)(void (*)(void))session_hidden_states, METH_VARARGS | METH_KEYWORDS,
     "hidden_states(texts, text_pairs=None, truncation=False, truncation_side='right') -> "
     "(bytearray of float32, bytearray of int32 n_tokens)"},
    {"fill_mask", (PyCFunction)(void (*)(void))session_fill_mask, METH_VARARGS | METH_KEYWORDS,
     "fill_mask(text, top_k=5, targets=None) -> [[(score, token, token_str, sequence), ...] per mask]"},
    {"zero_shot", (PyCFunction)(void (*)(void))session_zero_shot, METH_VARARGS | METH_KEYWORDS,
     "zero_shot(text, labels, hypothesis_template=None, multi_label=False) -> (scores, order)"},
    {"question_answer", (PyCFunction)(void (*)(void))session_question_answer, METH_VARARGS | METH_KEYWORDS,
     "question_answer(question, context, top_k=1, doc_stride=-1, max_answer_len=15, max_seq_len=0, "
     "max_question_len=64, handle_impossible_answer=False, align_to_words=True) -> [(score, start, end, answer), "
     "...]"},
    {"token_classify", (PyCFunction)(void (*)(void))session_token_classify, METH_VARARGS | METH_KEYWORDS,
     "token_classify(text, aggregation_strategy='none', ignore_labels=None, stride=-1) -> "
     "[(entity, score, index, word, start, end), ...]"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot session_slots[] = {
    {Py_tp_new, (void *)session_new},
    {Py_tp_dealloc, (void *)session_dealloc},
    {Py_tp_getset, session_getset},
    {Py_tp_methods, session_methods},
    {Py_tp_doc, "Session(model, device='cpu', precision='default', threads=0, max_batch_tokens=0): "
                "scratch buffers for one thread at a time."},
    {0, NULL},
};

static PyType_Spec session_spec = {"encore._encore.Session", sizeof(SessionObject), 0, Py_TPFLAGS_DEFAULT,
                                   session_slots};

/* ---- module --------------------------------------------------------------- */

/* Log lines go to Python's logging, logger "encore", when the Python layer
 * asks (set_log_handler); a C thread without the GIL takes it first. */
static PyObject *log_handler;

static void log_to_python(encore_log_level level, const char *message, void *user_data) {
    PyGILState_STATE g = PyGILState_Ensure();
    if (log_handler) {
        PyObject *r = PyObject_CallFunction(log_handler, "is", (int)level, message);
        if (!r) PyErr_Clear();
        Py_XDECREF(r);
    }
    PyGILState_Release(g);
}

static PyObject *set_log_handler(PyObject *module, PyObject *fn) {
    if (fn != Py_None && !PyCallable_Check(fn)) return PyErr_Format(PyExc_TypeError, "handler must be callable or None");
    Py_XINCREF(fn == Py_None ? NULL : fn);
    PyObject *old = log_handler;
    log_handler = fn == Py_None ? NULL : fn;
    encore_log_set(log_handler ? log_to_python : NULL, NULL);
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_log_handler", set_log_handler, METH_O,
     "set_log_handler(fn(level, message) or None): route the library's log lines"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_encore", "The C binding of include/encore.h.", -1,
                                        module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__encore(void) {
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    if (make_errors(m) < 0) goto fail;
    ModelType = (PyTypeObject *)PyType_FromSpec(&model_spec);
    if (!ModelType) goto fail;
    Py_INCREF(ModelType);
    if (PyModule_AddObject(m, "Model", (PyObject *)ModelType) < 0) goto fail;
    SessionType = (PyTypeObject *)PyType_FromSpec(&session_spec);
    if (!SessionType) goto fail;
    Py_INCREF(SessionType);
    if (PyModule_AddObject(m, "Session", (PyObject *)SessionType) < 0) goto fail;
    if (PyModule_AddStringConstant(m, "version", ENCORE_VERSION) < 0) goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
