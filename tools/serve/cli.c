/* cli.c: `encore serve`: options, model loading, the signal-driven
 * lifecycle (start, serve until SIGTERM/SIGINT, drain, exit 0). */
#include "serve.h"
#include "server.h"

#include "model_options.h"
#include "parse_number.h"
#include "read_file.h"
#include "weights_option.h"

#include <cJSON.h>

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: encore serve --model DIR [options]\n"
            "\n"
            "An HTTP server for one model, with the API of Hugging Face text-embeddings-inference:\n"
            "  POST /predict    {\"inputs\": \"text\" | [\"text\", \"pair\"] | [[\"t1\"], [\"t2\", \"pair\"]],\n"
            "                    \"raw_scores\": false, \"truncate\": false}\n"
            "                   -> [{\"score\", \"label\"}, ...] per input, best first\n"
            "  POST /embed      {\"inputs\": \"text\" | [\"t1\", \"t2\"], \"normalize\": true, \"truncate\": false}\n"
            "                   -> [[float, ...], ...]\n"
            "  POST /tokenize   {\"inputs\": \"text\" | [\"t1\", \"t2\"], \"add_special_tokens\": true}\n"
            "                   -> [[{\"id\", \"text\", \"special\", \"start\", \"stop\"}, ...], ...]\n"
            "  POST /embed_sparse {\"inputs\": \"text\" | [\"t1\", \"t2\"]} for a SPLADE model\n"
            "                   -> [[{\"index\", \"value\"}, ...], ...] the weights that are not 0\n"
            "  POST /embed_all, /similarity, /decode\n"
            "  POST /rerank     {\"query\": \"q\", \"texts\": [\"t1\", \"t2\"]} for a one-label classifier\n"
            "  POST /v1/embeddings  OpenAI's embeddings API\n"
            "  POST /, /invocations  /rerank for a re-ranker, /predict for a classifier, /embed_sparse\n"
            "                   for a SPLADE model, /embed otherwise\n"
            "  GET  /info, /health, /ping, /metrics (Prometheus), /openapi.json, /docs\n"
            "  /embed also takes \"prompt_name\", \"dimensions\", \"truncation_direction\" and token ids\n"
            "  POST bodies are JSON, sent with Content-Type: application/json (else 415)\n"
            "\n"
            "options:\n"
            "  --model DIR                    Hugging Face model directory (default: $ENCORE_MODEL, else the\n"
            "                                 default model)\n"
            "  --device cpu|cuda|auto         (default cpu; cuda without a GPU runs on the CPU)\n"
            "  --precision P                  the GPU's arithmetic: default (fp16), fp32, fp16 or bf16\n"
            "                                 (--dtype float32|float16|bfloat16, as TEI, is the same)\n"
            "  --pooling splade               serve a *ForMaskedLM model as SPLADE (/embed_sparse), as TEI's\n"
            "                                 --pooling splade; a directory with sentence-transformers'\n"
            "                                 SpladePooling is one without it\n"
            "  --model-id NAME                the model's name in /info and answers (default: ORG/NAME for a\n"
            "                                 Hub cache snapshot .../models--ORG--NAME/snapshots/SHA, else the\n"
            "                                 directory's name)\n"
            "  --served-model-name NAME       the name /info and /v1/embeddings report (default: --model-id)\n"
            "  --default-prompt-name NAME     put this prompt of config_sentence_transformers.json before every\n"
            "                                 text to embed that names no prompt (default: its\n"
            "                                 default_prompt_name)\n"
            "  --default-prompt TEXT          put TEXT before every text to embed that names no prompt\n"
            "  --host ADDR                    address to listen on (default 127.0.0.1)\n"
            "  --port N                       (default 8080; 0 picks a free port)\n"
            "  --max-batch-tokens N           tokens per batch (default 16384)\n"
            "  --max-batch-requests N         inputs per batch (default: no limit)\n"
            "  --max-concurrent-requests N    inference requests at once; more get 429 (default 512)\n"
            "  --max-client-batch-size N      inputs per request (default 32)\n"
            "  --max-body-bytes N             request body limit; larger gets 413 (default 2000000)\n"
            "  --max-inflight-bytes N         memory for the request bodies being served and what is built\n"
            "                                 from them: each takes 5 times its body plus 64 KiB; a body that\n"
            "                                 does not fit gets 429 (default 1073741824: 64 bodies of 2 MB\n"
            "                                 fit, and peak memory stays under the idle server's plus this)\n"
            "  --request-timeout SECONDS      a request's head and body must arrive within this, counted from\n"
            "                                 the connection's start or the end of its previous reply (so it\n"
            "                                 also bounds an idle keep-alive connection); later, the\n"
            "                                 connection is closed (default 60)\n"
            "  --max-connections N            open connections at once; more are refused (default twice\n"
            "                                 --max-concurrent-requests plus 64)\n"
            "  --max-connections-per-client N open connections from one client address; more are refused\n"
            "                                 (default half of --max-connections; 0: no cap, for a server\n"
            "                                 behind a reverse proxy, where every client has the proxy's address)\n"
            "  --batch-wait-us N              let a batch wait up to N us for more inputs (default 0)\n"
            "  --auto-truncate                cut over-long inputs when a request does not say \"truncate\"\n"
            "  --threads N                    CPU threads for the model (default: all cores)\n"
            "  --weights fp32|bf16|int8|int8-dynamic\n"
            "                                 how the CPU stores the linear layers' weights (default fp32;\n"
            "                                 see the README for what bf16 and the int8 ones cost in accuracy)\n"
            "  --quiet                        no log lines on stderr\n"
            "\n"
            "OpenMP threads wait passively (OMP_WAIT_POLICY=passive) unless OMP_WAIT_POLICY is set.\n\n"
            "It prints \"listening on http://HOST:PORT\" on stdout when ready. SIGTERM or SIGINT stops\n"
            "accepting connections, answers the requests already received, and exits with 0.\n");
}

/* A whole number in [lo, hi]. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    if (tools_parse_long(s, lo, hi, out)) return 0;
    fprintf(stderr, "encore serve: %s takes a number from %ld to %ld, not '%s'\n", opt, lo, hi, s);
    return -1;
}

static int parse_args(int argc, char **argv, serve_config *c) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        /* Requests say whether to truncate: no --no-truncation here. */
        const int mt = tools_model_option(&c->model, TOOLS_MODEL_OPT_TRUNCATION, a, v, "encore serve");
        if (mt < 0) return -1;
        if (mt > 0) {
            i += mt - 1;
            continue;
        }
        if (strcmp(a, "--auto-truncate") == 0) c->auto_truncate = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "encore serve: unexpected argument '%s'\n", a);
            return -1;
        } else if (!v) {
            fprintf(stderr, "encore serve: %s needs a value (or is unknown)\n", a);
            return -1;
        } else {
            i++;
            if (strcmp(a, "--model-id") == 0) c->model_id = v;
            else if (strcmp(a, "--pooling") == 0) {
                /* TEI's --pooling: only splade changes what encore loads;
                 * cls and mean come from the model directory here. */
                if (strcmp(v, "splade") != 0) {
                    fprintf(stderr, "encore serve: --pooling takes splade (cls and mean come from the model's "
                                    "1_Pooling/config.json), not '%s'\n", v);
                    return -1;
                }
                c->model.splade = 1;
            }
            else if (strcmp(a, "--default-prompt-name") == 0) c->default_prompt_name = v;
            else if (strcmp(a, "--default-prompt") == 0) c->default_prompt = v;
            else if (strcmp(a, "--served-model-name") == 0) c->served_model_name = v;
            else if (strcmp(a, "--host") == 0) c->host = v;
            else if (strcmp(a, "--port") == 0) {
                if (parse_long(a, v, 0, 65535, &n)) return -1;
                c->port = (int)n;
            } else if (strcmp(a, "--max-batch-tokens") == 0) {
                if (parse_long(a, v, 1, INT_MAX, &n)) return -1;
                c->max_batch_tokens = (int)n;
            } else if (strcmp(a, "--max-batch-requests") == 0) {
                if (parse_long(a, v, 1, INT_MAX, &n)) return -1;
                c->max_batch_requests = (int)n;
            } else if (strcmp(a, "--max-concurrent-requests") == 0) {
                if (parse_long(a, v, 1, 100000, &n)) return -1;
                c->max_concurrent_requests = (int)n;
            } else if (strcmp(a, "--max-client-batch-size") == 0) {
                if (parse_long(a, v, 1, 1000000, &n)) return -1;
                c->max_client_batch_size = (int)n;
            } else if (strcmp(a, "--max-body-bytes") == 0) {
                if (parse_long(a, v, 1, LONG_MAX, &n)) return -1;
                c->max_body_bytes = (size_t)n;
            } else if (strcmp(a, "--max-inflight-bytes") == 0) {
                if (parse_long(a, v, 1, LONG_MAX, &n)) return -1;
                c->max_inflight_bytes = (size_t)n;
            } else if (strcmp(a, "--request-timeout") == 0) {
                if (parse_long(a, v, 1, 86400, &n)) return -1;
                c->request_timeout_s = (double)n;
            } else if (strcmp(a, "--max-connections") == 0) {
                if (parse_long(a, v, 1, 1000000, &n)) return -1;
                c->max_connections = (int)n;
            } else if (strcmp(a, "--max-connections-per-client") == 0) {
                if (parse_long(a, v, 0, 1000000, &n)) return -1;
                c->max_connections_per_client = (int)n;
            } else if (strcmp(a, "--batch-wait-us") == 0) {
                if (parse_long(a, v, 0, 60L * 1000 * 1000, &n)) return -1;
                c->batch_wait_us = n;
            } else {
                fprintf(stderr, "encore serve: unknown option %s\n", a);
                return -1;
            }
        }
    }
    return 0;
}

static void note(const serve_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const serve_config *c, const char *fmt, ...) {
    if (c->model.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("encore serve: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* SIGTERM and SIGINT write their number here; the main thread reads it.
 * A handler rather than sigwait() with the signals blocked: libraries start
 * threads of their own (OpenBLAS at load time, before main), whose signal
 * mask this code does not control. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    const unsigned char b = (unsigned char)sig;
    const int saved = errno;
    if (write(signal_pipe[1], &b, 1) < 0) {
    }
    errno = saved;
}

static int install_signals(void) {
    if (pipe(signal_pipe) != 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Block until SIGTERM or SIGINT; returns which. */
static int wait_signal(void) {
    unsigned char b = 0;
    while (read(signal_pipe[0], &b, 1) != 1) {
    }
    return b;
}

/* OpenMP's worker threads spin while they wait for work, by default. In a
 * server the model thread's OpenMP team shares the cores with the connection
 * threads (and with whatever else runs on the machine), and a team that spins
 * while one of its threads waits for a core turns a 1 ms forward pass into
 * 100 ms and more (measured with wrk on 2 busy cores: 5 requests/s instead of
 * 900 at concurrency 1). libgomp reads OMP_WAIT_POLICY once, when it loads,
 * so when it is not set the command runs itself again with it set to
 * passive. Set OMP_WAIT_POLICY=active to keep spinning. */
static void prefer_passive_openmp(int argc, char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) return;
    args[0] = (char *)"encore";
    for (int i = 0; i < argc; i++) args[i + 1] = argv[i];
    fflush(stdout);
    fflush(stderr);
    execv("/proc/self/exe", args);
    free(args); /* exec failed: carry on as we are */
}

/* The prompts of config_sentence_transformers.json, as sentence-transformers
 * reads them: "prompts" (name -> text) and "default_prompt_name", which the
 * options override. *root keeps the parsed file. Returns 0, or -1 with a
 * message on stderr. */
static int load_prompts(const serve_config *c, serve_ctx *ctx, cJSON **root) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config_sentence_transformers.json", c->model.model_dir);
    *root = NULL;
    size_t len = 0;
    char *text = tools_read_file(path, &len);
    if (text) {
        *root = cJSON_ParseWithLength(text, len);
        free(text);
        if (!cJSON_IsObject(*root)) {
            fprintf(stderr, "encore serve: %s is not a JSON object\n", path);
            return -1;
        }
        const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(*root, "prompts"), *p;
        if (prompts && !cJSON_IsNull(prompts) && !cJSON_IsObject(prompts)) {
            fprintf(stderr, "encore serve: %s: \"prompts\" is not an object of names and texts\n", path);
            return -1;
        }
        cJSON_ArrayForEach(p, prompts) {
            if (!cJSON_IsString(p)) {
                fprintf(stderr, "encore serve: %s: prompt \"%s\" is not a string\n", path, p->string);
                return -1;
            }
        }
        if (cJSON_GetArraySize(prompts) > 0) ctx->prompts = prompts;
    }
    const cJSON *dflt = *root ? cJSON_GetObjectItemCaseSensitive(*root, "default_prompt_name") : NULL;
    const char *name = c->default_prompt_name ? c->default_prompt_name : cJSON_IsString(dflt) ? dflt->valuestring : NULL;
    if (c->default_prompt) {
        ctx->default_prompt = c->default_prompt;
    } else if (name) {
        const cJSON *p = ctx->prompts ? cJSON_GetObjectItemCaseSensitive(ctx->prompts, name) : NULL;
        if (!cJSON_IsString(p)) {
            fprintf(stderr, "encore serve: the default prompt name \"%s\" is not among the prompts of %s\n", name,
                    path);
            return -1;
        }
        ctx->default_prompt = p->valuestring;
    }
    return 0;
}

int encore_cli_serve(int argc, char **argv, const char *default_model_dir) {
    prefer_passive_openmp(argc, argv);
    /* From the start: a signal during model loading shuts down right after. */
    if (install_signals() != 0) {
        fprintf(stderr, "encore serve: cannot install signal handlers: %s\n", strerror(errno));
        return 2;
    }

    serve_config c = {
        .host = "127.0.0.1",
        .port = 8080,
        .max_batch_tokens = 16384,
        .max_concurrent_requests = 512,
        .max_client_batch_size = 32,
        .max_body_bytes = 2000000, /* TEI's --payload-limit default */
        .request_timeout_s = 60,
        .max_inflight_bytes = (size_t)1 << 30,
        .max_connections_per_client = -1, /* half of max_connections */
    };
    tools_model_options_init(&c.model);
    if (parse_args(argc, argv, &c) != 0) {
        fprintf(stderr, "encore serve: the options are in 'encore serve --help'\n");
        return 2;
    }
    /* Room for every admitted request on its connection, plus as many
     * waiting for admission, plus some for /health and /metrics. */
    if (!c.max_connections) c.max_connections = 2 * c.max_concurrent_requests + 64;
    if (c.max_connections_per_client < 0) c.max_connections_per_client = (c.max_connections + 1) / 2;
    if (!c.model.model_dir) {
        const char *env = getenv("ENCORE_MODEL");
        c.model.model_dir = env && *env ? env : default_model_dir;
    }
    if (!c.model.model_dir) {
        fprintf(stderr, "encore serve: --model DIR is required\n");
        return 2;
    }
    /* TEI's model id is the Hub id it loaded: for a snapshot of a Hub cache
     * (.../models--ORG--NAME/snapshots/SHA, as `encore pull` and
     * huggingface_hub lay it out) ORG/NAME, with SHA as model_sha; else the
     * directory's name. */
    char dir_name[256], hub_id[256];
    if (!c.model_id) {
        size_t n = strlen(c.model.model_dir);
        while (n > 1 && c.model.model_dir[n - 1] == '/') n--;
        size_t at = n;
        while (at > 0 && c.model.model_dir[at - 1] != '/') at--;
        snprintf(dir_name, sizeof dir_name, "%.*s", (int)(n - at), c.model.model_dir + at);
        c.model_id = dir_name;
        /* The two directories above: ".../models--ORG--NAME/snapshots/". */
        size_t s_end = at > 0 ? at - 1 : 0, s_at = s_end;
        while (s_at > 0 && c.model.model_dir[s_at - 1] != '/') s_at--;
        size_t r_end = s_at > 0 ? s_at - 1 : 0, r_at = r_end;
        while (r_at > 0 && c.model.model_dir[r_at - 1] != '/') r_at--;
        const char *repo = c.model.model_dir + r_at, *sep = NULL;
        if (s_end - s_at == 9 && strncmp(c.model.model_dir + s_at, "snapshots", 9) == 0 && r_end - r_at > 8 &&
            strncmp(repo, "models--", 8) == 0) {
            for (const char *p = repo + 8; p + 1 < c.model.model_dir + r_end && !sep; p++)
                if (p[0] == '-' && p[1] == '-') sep = p;
            if (sep)
                snprintf(hub_id, sizeof hub_id, "%.*s/%.*s", (int)(sep - repo - 8), repo + 8,
                         (int)(c.model.model_dir + r_end - sep - 2), sep + 2);
            else
                snprintf(hub_id, sizeof hub_id, "%.*s", (int)(r_end - r_at - 8), repo + 8);
            c.model_id = hub_id;
            c.model_sha = dir_name;
        }
    }
    if (!c.served_model_name) c.served_model_name = c.model_id;
    {
        const long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c.tokenization_workers = cores > 0 ? (int)cores : 1;
    }
    tools_model_options_apply_quiet(&c.model);

    serve_ctx ctx = {.cfg = c};
    pthread_mutex_init(&ctx.pipeline_lock, NULL);
    encore_model *model = NULL;
    if (encore_model_load(c.model.model_dir, tools_model_params(&c.model), &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore serve: %s\n", encore_last_error());
        return 2;
    }
    ctx.model = model;
    int rc = 2;
    serve_http *http = NULL;
    cJSON *st_config = NULL;
    if (c.default_prompt && c.default_prompt_name) {
        fprintf(stderr, "encore serve: --default-prompt and --default-prompt-name cannot both be set\n");
        goto done;
    }
    if (load_prompts(&c, &ctx, &st_config) != 0) goto done;
    ctx.metrics = serve_metrics_create(encore_model_max_length(model));
    encore_input probe = {"ok", NULL};
    if (!ctx.metrics ||
        encore_model_tokenize_for_task(model, probe, ENCORE_TASK_EMBED, 1, &ctx.probe) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore serve: %s\n", ctx.metrics ? encore_last_error() : "out of memory");
        goto done;
    }
    serve_batcher_params bp = {.session = tools_session_params(&c.model),
                               .max_batch_tokens = c.max_batch_tokens,
                               .max_batch_requests = c.max_batch_requests,
                               .batch_wait_us = c.batch_wait_us};
    if (serve_batcher_create(model, bp, ctx.metrics, &ctx.batcher) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore serve: %s\n", encore_last_error());
        goto done;
    }
    /* Warm up: one forward pass before accepting anything. */
    {
        const serve_task task = serve_batcher_probe_task(ctx.batcher);
        float *out = malloc((size_t)serve_batcher_width(ctx.batcher, task) * sizeof *out);
        const encore_encoding *encs[1] = {ctx.probe};
        serve_job job = {.task = task, .n_inputs = 1, .encodings = encs, .out = out, .urgent = 1};
        int ok = out && serve_batcher_run(ctx.batcher, &job) == 0 && job.status == ENCORE_STATUS_OK;
        free(out);
        if (!ok) {
            fprintf(stderr, "encore serve: the first forward pass failed: %s\n", out ? job.error : "out of memory");
            goto done;
        }
    }
    int port = 0;
    if (serve_http_start(&ctx, &http, &port) != 0) goto done;
    note(&c, "%s (%s, %d labels, max %d tokens) on the %s", c.model.model_dir, encore_model_architecture_name(model),
         encore_model_n_labels(model), encore_model_task_max_length(model, encore_model_task(model)),
         serve_batcher_device(ctx.batcher) == ENCORE_DEVICE_CUDA ? "GPU" : "CPU");
    const int v6 = strchr(c.host, ':') != NULL;
    printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", c.host, v6 ? "]" : "", port);
    fflush(stdout);

    const int sig = wait_signal();
    note(&c, "%s: finishing the requests in flight, then exiting", sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_http_quiesce(http);
    serve_batcher_drain(ctx.batcher);
    int left = serve_http_wait_idle(http, 60.0);
    if (left) note(&c, "%d requests still open after 60 s; closing them", left);
    serve_http_stop(http);
    http = NULL;
    rc = 0;
done:
    serve_http_stop(http);
    serve_batcher_free(ctx.batcher);
    encore_session_free(ctx.pipeline_session);
    pthread_mutex_destroy(&ctx.pipeline_lock);
    encore_encoding_free(ctx.probe);
    serve_metrics_free(ctx.metrics);
    encore_model_free(model);
    cJSON_Delete(st_config);
    if (rc == 0) note(&c, "stopped");
    return rc;
}
