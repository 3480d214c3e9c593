/* fuzz_checkpoint.c: the checkpoint reader of encore score on any bytes, in
 * two ways.
 *
 * Byte 0 even: the rest is a checkpoint file, parsed (almost every mutation
 * fails the checksum: this explores the parser and its refusals).
 * Byte 0 odd: the rest gives the fields of a checkpoint, which is written
 * with a valid checksum and read back, so that what the checkpoint says is
 * what gets checked: its counts against one another, then a resume's replay
 * of a fixed input and its check of a fixed output against it. Either the
 * resume is refused, or the checkpoint is the fixed run's own. */
#include "fuzz_common.h"

#include "score_checkpoint.h"
#include "score_input.h"
#include "score_output.h"

/* Six records, one bad, and the output a run writes for them. */
static const char input[] =
    "{\"id\": 1, \"text\": \"a fine film\"}\n"
    "\n"
    "{\"id\": 2, \"text\": \"dull\"}\n"
    "{\"id\": 3, \"text\": broken}\n"
    "{\"id\": 4, \"text\": \"the end\"}\r\n"
    "{\"id\": 5, \"text\": \"ok\"}";

static encore_model *model;

static int64_t take(const uint8_t **p, size_t *n, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes && *n > 0; i++, (*p)++, (*n)--) v = v << 8 | **p;
    return (int64_t)(v & (((uint64_t)1 << 62) - 1));
}

static void structured(const uint8_t *p, size_t n) {
    if (!model) {
        if (encore_model_load(fuzz_fixture("tiny-bert-sst"), encore_model_default_params(), &model) != ENCORE_STATUS_OK)
            abort();
        fuzz_write("in.jsonl", input, strlen(input));
    }
    char in_path[512], out_path[512], ckpt_path[512];
    snprintf(in_path, sizeof in_path, "%s", fuzz_path(0, "in.jsonl"));
    snprintf(out_path, sizeof out_path, "%s", fuzz_path(1, "out.jsonl"));
    snprintf(ckpt_path, sizeof ckpt_path, "%s", fuzz_path(2, "out.jsonl.ckpt"));
    const char *argv[] = {"score", "--input", in_path, "--output", out_path};
    score_options o;
    FUZZ_CHECK(score_parse_args(5, (char **)argv, &o) == 1, "options");
    score_checkpoint c;
    memset(&c, 0, sizeof c);
    const int small = n > 0 && (*p & 1); /* small numbers, likelier to pass the checks */
    const int width = small ? 1 : 8;
    c.complete = n > 0 && (*p & 2);
    c.exit_status = n > 0 ? (int[]){0, 1, 130, 2}[(*p >> 2) & 3] : 0;
    if (n > 0) p++, n--;
    c.input_offset = take(&p, &n, width);
    c.input_line = take(&p, &n, width);
    c.output_bytes = take(&p, &n, width);
    c.index_bytes = take(&p, &n, width);
    c.stats.records = take(&p, &n, width);
    c.stats.scored = take(&p, &n, width);
    c.stats.truncated = take(&p, &n, width);
    c.stats.tokens = take(&p, &n, width);
    for (int k = 1; k < SCORE_PROBLEM_COUNT; k++) c.stats.problems[k] = take(&p, &n, width);
    for (int k = 0; k < 32 && n > 0; k++, p++, n--) c.input_sha256[k] = *p;
    for (int k = 0; k < 32 && n > 0; k++, p++, n--) c.output_sha256[k] = *p;
    /* The output: whatever bytes are left. */
    fuzz_write("out.jsonl", p, n);
    score_job_string(&o, SCORE_INPUT_JSONL, ENCORE_DEVICE_CPU, c.job, sizeof c.job);
    char err[600];
    FUZZ_CHECK(score_checkpoint_write(ckpt_path, &c, err, sizeof err), "write: %s", err);
    score_checkpoint back;
    if (score_checkpoint_read(ckpt_path, &back, err, sizeof err) != 1) {
        if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "checkpoint refused: %s\n", err);
        return;
    }
    FUZZ_CHECK(back.input_offset == c.input_offset && back.stats.records == c.stats.records &&
                   back.output_bytes == c.output_bytes && memcmp(back.input_sha256, c.input_sha256, 32) == 0 &&
                   strcmp(back.job, c.job) == 0,
               "the checkpoint read back is not the one written");
    if (back.complete) return;
    score_reader r;
    FUZZ_CHECK(score_reader_open(&r, &o), "open: %s", r.error);
    tools_sha256 records;
    const int replayed =
        score_reader_replay(&r, back.stats.records, back.input_offset, back.input_line, back.input_sha256, &records);
    if (!replayed && getenv("FUZZ_VERBOSE")) fprintf(stderr, "input refused: %s\n", r.error);
    if (replayed) {
        score_writer w;
        if (score_writer_open(&w, &o, model, &back, &records)) {
            FUZZ_CHECK(back.stats.records <= 5, "%lld records accepted", (long long)back.stats.records);
            if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "a resume of %lld records accepted\n", (long long)back.stats.records);
        } else if (getenv("FUZZ_VERBOSE")) {
            fprintf(stderr, "output refused: %s\n", w.error);
        }
        score_writer_close(&w);
    }
    score_reader_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_quiet();
        ready = 1;
    }
    if (size < 1) return 0;
    if (data[0] % 2) {
        structured(data + 1, size - 1);
        return 0;
    }
    score_checkpoint c;
    char err[256];
    if (score_checkpoint_parse((const char *)data + 1, size - 1, &c, err, sizeof err) == 1) {
        int64_t errors = 0;
        for (int k = 1; k < SCORE_PROBLEM_COUNT; k++) errors += c.stats.problems[k];
        FUZZ_CHECK(c.stats.scored + errors == c.stats.records && c.input_line <= c.input_offset,
                   "an inconsistent checkpoint was accepted");
    }
    return 0;
}
