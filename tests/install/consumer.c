/* consumer.c: a program outside the project, built against an installed
 * encore (pkg-config or find_package). It classifies each text given after
 * the model directory and prints one line per text: the top label and its
 * score, as `encore classify` gives them.
 *   consumer MODEL_DIR TEXT... */
#include <encore.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR TEXT...\n", argv[0]);
        return 2;
    }
    encore_model *model = NULL;
    if (encore_model_load(argv[1], encore_model_default_params(), &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "consumer: %s\n", encore_last_error());
        return 1;
    }
    encore_session *session = NULL;
    if (encore_session_create(model, encore_session_default_params(), &session) != ENCORE_STATUS_OK) {
        fprintf(stderr, "consumer: %s\n", encore_last_error());
        encore_model_free(model);
        return 1;
    }
    int n_labels = encore_model_n_labels(model);
    float *probs = malloc(sizeof(float) * (size_t)n_labels);
    int rc = probs ? 0 : 1;
    for (int t = 2; t < argc && rc == 0; t++) {
        encore_input input = {argv[t], NULL};
        if (encore_session_classify(session, &input, 1, probs) != ENCORE_STATUS_OK) {
            fprintf(stderr, "consumer: %s\n", encore_session_last_error(session));
            rc = 1;
            break;
        }
        int best = 0;
        for (int i = 1; i < n_labels; i++)
            if (probs[i] > probs[best]) best = i;
        printf("%s %.6f\n", encore_model_label(model, best), (double)probs[best]);
    }
    free(probs);
    encore_session_free(session);
    encore_model_free(model);
    return rc;
}
