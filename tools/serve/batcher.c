/* batcher.c: the model thread; see batcher.h. */
#include "batcher.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One input of a batch: which job, which of its inputs. */
typedef struct slot {
    serve_job *job;
    int input;
} slot;

struct serve_batcher {
    const encore_model *model;
    encore_session *session;
    serve_batcher_params params;
    serve_metrics *metrics;

    pthread_mutex_t lock;
    pthread_cond_t work;       /* a job arrived, or stop */
    serve_job *head, *tail;    /* jobs with inputs not yet in a batch, oldest first */
    int pending_inputs;        /* inputs of queued jobs not yet in a batch */
    long pending_tokens;
    int stopping;
    int draining;              /* no more waiting to fill batches */
    int urgent_jobs;           /* queued jobs with urgent set */
    unsigned long batch_id;    /* batches formed so far */
    double last_success;
    pthread_t thread;
    int thread_started;

    /* Model thread only. */
    slot *slots;                       /* (slot_cap) */
    const encore_encoding **encodings; /* (slot_cap) */
    float *out;                        /* (slot_cap, width_max) */
    int slot_cap, width_max;
    float *hidden;                     /* (hidden_cap) a SERVE_TASK_HIDDEN batch's tokens */
    size_t hidden_cap;
};

double serve_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int serve_batcher_width(const serve_batcher *b, serve_task task) {
    if (task == SERVE_TASK_SPARSE) return encore_model_vocab_size(b->model);
    return task == SERVE_TASK_EMBED || task == SERVE_TASK_EMBED_NORMALIZED || task == SERVE_TASK_HIDDEN
               ? encore_model_hidden_size(b->model)
               : encore_model_n_labels(b->model);
}

serve_task serve_batcher_probe_task(const serve_batcher *b) {
    return encore_model_is_sparse(b->model) ? SERVE_TASK_SPARSE : SERVE_TASK_EMBED;
}

encore_device serve_batcher_device(const serve_batcher *b) { return encore_session_device(b->session); }

double serve_batcher_last_success(serve_batcher *b) {
    pthread_mutex_lock(&b->lock);
    double t = b->last_success;
    pthread_mutex_unlock(&b->lock);
    return t;
}

static void queue_push(serve_batcher *b, serve_job *job) {
    job->link = NULL;
    if (b->tail) b->tail->link = job;
    else b->head = job;
    b->tail = job;
}

/* Run n inputs of one task with one library call. out: (n, width). */
static encore_status run_inputs(serve_batcher *b, serve_task task, const encore_encoding *const *encs, int n,
                                float *out) {
    switch (task) {
    case SERVE_TASK_SCORES: return encore_session_classify_encoded(b->session, encs, n, out);
    case SERVE_TASK_LOGITS: return encore_session_logits_encoded(b->session, encs, n, out);
    case SERVE_TASK_EMBED:
        return encore_session_embed_encoded(b->session, encs, n, ENCORE_POOLING_DEFAULT, 0, out);
    case SERVE_TASK_EMBED_NORMALIZED:
        return encore_session_embed_encoded(b->session, encs, n, ENCORE_POOLING_DEFAULT, 1, out);
    case SERVE_TASK_HIDDEN: return encore_session_hidden_states_encoded(b->session, encs, n, out);
    case SERVE_TASK_SPARSE: return encore_session_embed_sparse_encoded(b->session, encs, n, out);
    default: return ENCORE_STATUS_INVALID_ARGUMENT;
    }
}

/* Make room for n slots. Model thread only. */
static int grow_slots(serve_batcher *b, int n) {
    if (n <= b->slot_cap) return 1;
    int cap = b->slot_cap ? b->slot_cap : 64;
    while (cap < n) cap *= 2;
    slot *s = realloc(b->slots, (size_t)cap * sizeof *s);
    if (s) b->slots = s;
    const encore_encoding **e = realloc(b->encodings, (size_t)cap * sizeof *e);
    if (e) b->encodings = e;
    float *o = realloc(b->out, (size_t)cap * (size_t)b->width_max * sizeof *o);
    if (o) b->out = o;
    if (!s || !e || !o) return 0;
    b->slot_cap = cap;
    return 1;
}

/* Take the next batch off the queue (lock held). Its task is that of the
 * oldest job; inputs come round-robin from the jobs of that task while the
 * budget allows, the first input always. Returns the number of slots. */
static int take_batch(serve_batcher *b, long *n_tokens) {
    const serve_task task = b->head->task;
    const int max_inputs = b->params.max_batch_requests > 0 ? b->params.max_batch_requests : INT_MAX;
    const unsigned long id = ++b->batch_id;
    int n = 0;
    long tokens = 0;
    for (int took = 1; took && n < max_inputs;) {
        took = 0;
        for (serve_job *j = b->head; j && n < max_inputs; j = j->link) {
            if (j->task != task || j->next_input >= j->n_inputs) continue;
            const int t = j->encodings[j->next_input]->n_tokens;
            if (n > 0 && tokens + t > b->params.max_batch_tokens) continue;
            if (!grow_slots(b, n + 1)) break;
            b->slots[n].job = j;
            b->slots[n].input = j->next_input++;
            b->encodings[n] = j->encodings[b->slots[n].input];
            j->last_batch = id;
            tokens += t;
            n++;
            took = 1;
        }
    }
    /* Jobs with every input taken leave the queue; jobs of this task with
     * inputs left go to the back, behind the jobs that got nothing. */
    serve_job *keep = NULL, *keep_tail = NULL, *back = NULL, *back_tail = NULL;
    for (serve_job *j = b->head, *next; j; j = next) {
        next = j->link;
        j->link = NULL;
        if (j->next_input >= j->n_inputs) {
            b->urgent_jobs -= j->urgent != 0;
            continue;
        }
        const int served = j->last_batch == id;
        serve_job **h = served ? &back : &keep, **t = served ? &back_tail : &keep_tail;
        if (*t) (*t)->link = j;
        else *h = j;
        *t = j;
    }
    if (keep_tail) keep_tail->link = back;
    b->head = keep ? keep : back;
    b->tail = back_tail ? back_tail : keep_tail;
    b->pending_inputs -= n;
    b->pending_tokens -= tokens;
    *n_tokens = tokens;
    return n;
}

/* Record one input's result (lock held) and wake its job when it is the last. */
static void finish_input(const slot *s, const float *row, int width, encore_status st, const char *error,
                         double t_start) {
    serve_job *j = s->job;
    if (j->n_finished == 0 || t_start < j->t_first_batch) j->t_first_batch = t_start;
    if (st == ENCORE_STATUS_OK && j->task == SERVE_TASK_HIDDEN) {
        /* Every token of the input, after the tokens of those before it. */
        size_t at = 0;
        for (int i = 0; i < s->input; i++) at += (size_t)j->encodings[i]->n_tokens;
        memcpy(j->out + at * (size_t)width, row,
               (size_t)j->encodings[s->input]->n_tokens * (size_t)width * sizeof(float));
    } else if (st == ENCORE_STATUS_OK) {
        memcpy(j->out + (size_t)s->input * width, row, (size_t)width * sizeof(float));
    } else if (j->status == ENCORE_STATUS_OK) {
        j->status = st;
        snprintf(j->error, sizeof j->error, "%s", error);
    }
    if (++j->n_finished == j->n_inputs) {
        j->finished = 1;
        j->t_finished = serve_now();
        pthread_cond_signal(&j->done);
    }
}

static void *model_thread(void *arg) {
    serve_batcher *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stopping) pthread_cond_wait(&b->work, &b->lock);
        if (!b->head) break; /* stopping and nothing left */
        /* Wait for the batch to fill, up to batch_wait_us after its oldest
         * input arrived; never while stopping. */
        if (b->params.batch_wait_us > 0) {
            const double deadline = b->head->t_enqueued + 1e-6 * (double)b->params.batch_wait_us;
            const int max_inputs = b->params.max_batch_requests > 0 ? b->params.max_batch_requests : INT_MAX;
            while (!b->stopping && !b->draining && !b->urgent_jobs &&
                   b->pending_tokens < b->params.max_batch_tokens && b->pending_inputs < max_inputs) {
                double now = serve_now();
                if (now >= deadline) break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                double wait = deadline - now;
                ts.tv_sec += (time_t)wait;
                ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                if (pthread_cond_timedwait(&b->work, &b->lock, &ts) == ETIMEDOUT) break;
            }
        }
        long n_tokens = 0;
        const serve_task task = b->head->task;
        const int n = take_batch(b, &n_tokens);
        if (b->metrics) serve_metrics_queue_size(b->metrics, b->pending_inputs);
        if (n == 0) {
            /* Out of memory for the slots: fail the oldest job's next input
             * rather than spin. */
            serve_job *j = b->head;
            slot s = {j, j->next_input++};
            b->pending_inputs--;
            b->pending_tokens -= j->encodings[s.input]->n_tokens;
            if (j->next_input >= j->n_inputs) {
                b->urgent_jobs -= j->urgent != 0;
                b->head = j->link;
                if (!b->head) b->tail = NULL;
            }
            finish_input(&s, NULL, 0, ENCORE_STATUS_OUT_OF_MEMORY, "out of memory forming a batch",
                         serve_now());
            continue;
        }
        pthread_mutex_unlock(&b->lock);

        const int width = serve_batcher_width(b, task);
        const int hidden = task == SERVE_TASK_HIDDEN;
        /* Where input i's result lies in the batch's output: row i, or for
         * hidden states after the tokens of the inputs before it. */
        float *out = b->out;
        encore_status st = ENCORE_STATUS_OK;
        int oom = 0;
        if (hidden && (size_t)n_tokens * (size_t)width > b->hidden_cap) {
            float *h = realloc(b->hidden, (size_t)n_tokens * (size_t)width * sizeof *h);
            if (h) {
                b->hidden = h;
                b->hidden_cap = (size_t)n_tokens * (size_t)width;
            } else {
                st = ENCORE_STATUS_OUT_OF_MEMORY;
                oom = 1;
            }
        }
        if (hidden) out = b->hidden;
        const double t0 = serve_now();
        if (st == ENCORE_STATUS_OK) st = run_inputs(b, task, b->encodings, n, out);
        const double t1 = serve_now();
        if (b->metrics) serve_metrics_batch(b->metrics, n, (int)n_tokens, t1 - t0, st == ENCORE_STATUS_OK);
        char error[512] = "";
        if (st != ENCORE_STATUS_OK)
            snprintf(error, sizeof error, "%s",
                     oom ? "out of memory for the hidden states" : encore_session_last_error(b->session));

        pthread_mutex_lock(&b->lock);
        if (st == ENCORE_STATUS_OK) {
            b->last_success = t1;
            size_t at = 0;
            for (int i = 0; i < n; i++) {
                finish_input(&b->slots[i], out + at * (size_t)width, width, st, "", t0);
                at += hidden ? (size_t)b->encodings[i]->n_tokens : 1;
            }
        } else if (oom) {
            for (int i = 0; i < n; i++) finish_input(&b->slots[i], NULL, width, st, error, t0);
        } else if (n == 1) {
            finish_input(&b->slots[0], NULL, width, st, error, t0);
        } else {
            /* Run the inputs one by one so that one bad input fails only
             * its own request. */
            pthread_mutex_unlock(&b->lock);
            size_t at = 0;
            for (int i = 0; i < n; i++) {
                float *row = out + at * (size_t)width;
                at += hidden ? (size_t)b->encodings[i]->n_tokens : 1;
                encore_status sti = run_inputs(b, task, &b->encodings[i], 1, row);
                snprintf(error, sizeof error, "%s",
                         sti == ENCORE_STATUS_OK ? "" : encore_session_last_error(b->session));
                pthread_mutex_lock(&b->lock);
                if (sti == ENCORE_STATUS_OK) b->last_success = serve_now();
                finish_input(&b->slots[i], row, width, sti, error, t0);
                pthread_mutex_unlock(&b->lock);
            }
            pthread_mutex_lock(&b->lock);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

encore_status serve_batcher_create(const encore_model *model, serve_batcher_params params, serve_metrics *metrics,
                                   serve_batcher **out) {
    *out = NULL;
    if (params.max_batch_tokens < 1) params.max_batch_tokens = 16384;
    params.session.max_batch_tokens = params.max_batch_tokens;
    serve_batcher *b = calloc(1, sizeof *b);
    if (!b) return ENCORE_STATUS_OUT_OF_MEMORY;
    b->model = model;
    b->params = params;
    b->metrics = metrics;
    const int labels = encore_model_n_labels(model), hidden = encore_model_hidden_size(model);
    b->width_max = labels > hidden ? labels : hidden;
    if (encore_model_is_sparse(model) && encore_model_vocab_size(model) > b->width_max)
        b->width_max = encore_model_vocab_size(model);
    encore_status st = encore_session_create(model, params.session, &b->session);
    if (st != ENCORE_STATUS_OK) {
        free(b);
        return st;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    if (pthread_create(&b->thread, NULL, model_thread, b) != 0) {
        serve_batcher_free(b);
        return ENCORE_STATUS_OUT_OF_MEMORY;
    }
    b->thread_started = 1;
    *out = b;
    return ENCORE_STATUS_OK;
}

int serve_batcher_run(serve_batcher *b, serve_job *job) {
    job->status = ENCORE_STATUS_OK;
    job->error[0] = '\0';
    job->next_input = job->n_finished = job->finished = 0;
    job->t_enqueued = job->t_first_batch = job->t_finished = serve_now();
    if (job->n_inputs <= 0) {
        job->finished = 1;
        return 0;
    }
    pthread_cond_init(&job->done, NULL);
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
        pthread_mutex_unlock(&b->lock);
        pthread_cond_destroy(&job->done);
        return -1;
    }
    queue_push(b, job);
    b->urgent_jobs += job->urgent != 0;
    b->pending_inputs += job->n_inputs;
    for (int i = 0; i < job->n_inputs; i++) b->pending_tokens += job->encodings[i]->n_tokens;
    if (b->metrics) serve_metrics_queue_size(b->metrics, b->pending_inputs);
    pthread_cond_signal(&b->work);
    while (!job->finished) pthread_cond_wait(&job->done, &b->lock);
    pthread_mutex_unlock(&b->lock);
    pthread_cond_destroy(&job->done);
    return 0;
}

void serve_batcher_drain(serve_batcher *b) {
    pthread_mutex_lock(&b->lock);
    b->draining = 1;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
}

void serve_batcher_stop(serve_batcher *b) {
    if (!b || !b->thread_started) return;
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    b->thread_started = 0;
}

void serve_batcher_free(serve_batcher *b) {
    if (!b) return;
    serve_batcher_stop(b);
    pthread_cond_destroy(&b->work);
    pthread_mutex_destroy(&b->lock);
    encore_session_free(b->session);
    free(b->slots);
    free(b->encodings);
    free(b->out);
    free(b->hidden);
    free(b);
}
