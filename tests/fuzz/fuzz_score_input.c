/* fuzz_score_input.c: the input readers of encore score on any bytes: the
 * file is split into records (JSONL, TSV, CSV or text), each record parsed,
 * checked and tokenized, and its output line formatted (JSONL, TSV, or the
 * .npy index), as the pipeline does; the records' offsets and lines must
 * add up, and a replay of the records read must accept them (resume).
 *
 * Input: byte 0 chooses the format (byte % 4: jsonl, tsv, csv, text) and
 * options (bit 2: a pair field; bit 3: --id-field given; bit 4: records
 * over 64 bytes are too large; bits 5-6: the output format); the rest is the
 * input file. */
#include "fuzz_common.h"

#include "score_input.h"
#include "score_output.h"

static encore_model *model;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model) {
        fuzz_quiet();
        if (encore_model_load(fuzz_fixture("tiny-bert-sst"), encore_model_default_params(), &model) != ENCORE_STATUS_OK) {
            fprintf(stderr, "cannot load the fixture model: %s\n", encore_last_error());
            abort();
        }
    }
    if (size < 1) return 0;
    static const char *formats[] = {"jsonl", "tsv", "csv", "text"};
    static const char *outputs[] = {"jsonl", "tsv", "npy", "jsonl"};
    const int flags = data[0];
    fuzz_write("in", data + 1, size - 1);
    char in_path[512], out_path[512];
    snprintf(in_path, sizeof in_path, "%s", fuzz_path(0, "in"));
    snprintf(out_path, sizeof out_path, "%s", fuzz_path(1, "out"));
    const char *argv[24] = {"score", "--input", in_path, "--output", out_path, "--input-format", formats[flags % 4],
                            "--format", outputs[(flags >> 5) & 3]};
    int argc = 9;
    if (flags & 4) argv[argc++] = "--pair-field", argv[argc++] = "pair";
    if (flags & 8) argv[argc++] = "--id-field", argv[argc++] = "id";
    if (flags & 16) argv[argc++] = "--max-record-bytes", argv[argc++] = "64";
    score_options o;
    FUZZ_CHECK(score_parse_args(argc, (char **)argv, &o) == 1, "options");
    score_reader r;
    if (!score_reader_open(&r, &o)) {
        score_reader_close(&r);
        return 0;
    }
    const int64_t start_offset = r.offset, start_line = r.line;
    score_writer w;
    memset(&w, 0, sizeof w);
    w.o = &o;
    w.model = model;
    w.n_labels = encore_model_n_labels(model);
    w.width = w.n_labels;
    float result[8] = {0.25f, 0.75f};
    score_record rec;
    memset(&rec, 0, sizeof rec);
    tools_sha256 hash;
    tools_sha256_init(&hash);
    int64_t records = 0, last_offset = start_offset, last_line = start_line;
    int got;
    while ((got = score_reader_next(&r, &rec)) > 0 && records < 10000) {
        FUZZ_CHECK(rec.end_offset > last_offset && rec.end_offset <= (int64_t)(size - 1), "record %lld ends at %lld",
                   (long long)records, (long long)rec.end_offset);
        FUZZ_CHECK(rec.line > last_line && rec.end_line >= rec.line, "record %lld: lines %lld-%lld after %lld",
                   (long long)records, (long long)rec.line, (long long)rec.end_line, (long long)last_line);
        FUZZ_CHECK(rec.raw_len <= o.max_record_bytes && strlen(rec.raw) <= rec.raw_len, "raw of %zu bytes",
                   rec.raw_len);
        last_offset = rec.end_offset;
        last_line = rec.end_line;
        rec.seq = records++;
        score_record_hash(&hash, &rec);
        score_record_prepare(&r, &o, model, &rec);
        FUZZ_CHECK((rec.problem == SCORE_PROBLEM_NONE) == (rec.enc != NULL), "problem %d with encoding %p",
                   (int)rec.problem, (void *)rec.enc);
        FUZZ_CHECK(score_writer_format(&w, &rec, rec.problem == SCORE_PROBLEM_NONE ? result : NULL), "format");
        FUZZ_CHECK(rec.out_len > 0 && rec.out[rec.out_len - 1] == '\n', "an output line without its newline");
        score_record_reset(&rec);
    }
    score_record_free(&rec);
    score_reader_close(&r);
    if (got < 0) return 0;
    /* Resume: the records read are found again, ending where they ended. */
    uint8_t digest[32];
    tools_sha256_digest(&hash, digest);
    score_reader again;
    FUZZ_CHECK(score_reader_open(&again, &o), "reopen: %s", again.error);
    tools_sha256 replayed;
    FUZZ_CHECK(score_reader_replay(&again, records, last_offset, last_line, digest, &replayed), "replay: %s",
               again.error);
    score_reader_close(&again);
    return 0;
}
