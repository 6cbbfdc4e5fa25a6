/* retrieval_log.h: what the protocol files (src/methods/retrieval_score.c, retrieval_log.c,
 * mask_test.c, scale_sweep.c) share beyond the public API; not part of it. The fuzz
 * target of the trial log (tests/fuzz/fuzz_score_files.c) reads it too. */
#ifndef HW_RETRIEVAL_LOG_H
#define HW_RETRIEVAL_LOG_H

#include "internal.h"

#include <stdio.h>

/* A Retrieval Head trial: needle index (0 for the retrieval task's samples), context
 * length and depth (percent; the sample index for the task). */
typedef struct {
    int needle, length, depth;
} hw_trial_key;

/* The trial log OUT.trials of hw_retrieval_run:
 *   # headwise retrieval trials L <L> H <H>
 *   # setting <name> <value>          (one line per setting the trials depend on)
 *   needle<TAB>length<TAB>depth<TAB>rouge<TAB>counted<TAB>scores<TAB>answer
 * scores: L x H comma-separated values when counted, else empty. A trial line is
 * appended (and flushed) as each trial ends, so the log is whole after every trial; a
 * torn last line from a killed run is dropped when the log is read.
 *
 * Read path against this run: the model's L and H, its settings (the "# setting" lines
 * the run would write, exactly) and its grid keys[n_keys]. Sets done[i] for each grid
 * trial logged (*n_done of them) and appends the scores of counted ones to s.
 * *good_end: the bytes up to the end of the last whole line, 0 when the log is missing
 * or has no whole header line (a fresh log is written then). Errors: another model, any
 * setting that differs (named), a malformed line, a trial outside the grid or logged
 * twice. */
hw_status hw_retrieval_log_read(const char *path, int L, int H, const char *settings,
                                const hw_trial_key *keys, int n_keys, unsigned char *done,
                                int *n_done, hw_head_scores *s, long *good_end);
/* Open the log for appending: a fresh one (header and settings written) when good_end
 * is 0, else cut to good_end. NULL on error (set). */
FILE *hw_retrieval_log_open(const char *path, int L, int H, const char *settings, long good_end);

#endif
