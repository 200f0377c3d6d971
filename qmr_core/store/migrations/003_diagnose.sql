-- qmr store, schema version 3: compare and diagnose (issue 5).
-- pairs: per-run scores behind the outcome (fractions of samples right; 0/1 in greedy runs).
ALTER TABLE pairs ADD COLUMN base_score DOUBLE;
ALTER TABLE pairs ADD COLUMN quant_score DOUBLE;
ALTER TABLE pairs ADD COLUMN n_samples INTEGER;
ALTER TABLE pairs ADD COLUMN n_base_steps INTEGER;
ALTER TABLE pairs ADD COLUMN n_quant_steps INTEGER;

-- One row per compared (base, quant) pair of runs: the summary numbers as JSON.
CREATE TABLE comparisons (
    base_run_id  VARCHAR NOT NULL,
    quant_run_id VARCHAR NOT NULL,
    summary_json VARCHAR NOT NULL,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (base_run_id, quant_run_id)
);

-- Step alignment of the two traces of a problem: one row per alignment position.
-- A step present in only one trace has the other index NULL (and no similarity).
CREATE TABLE step_alignments (
    base_run_id     VARCHAR NOT NULL,
    quant_run_id    VARCHAR NOT NULL,
    problem_id      VARCHAR NOT NULL,
    sample_idx      INTEGER NOT NULL,
    pos             INTEGER NOT NULL,
    base_step_idx   INTEGER,
    quant_step_idx  INTEGER,
    similarity      DOUBLE,          -- words and stated numbers, 0..1
    text_similarity DOUBLE,          -- words only
    numbers_equal   BOOLEAN,         -- the two steps state the same numbers
    PRIMARY KEY (base_run_id, quant_run_id, problem_id, sample_idx, pos)
);

-- Teacher-forced divergence: the base sample's trace fed to the quantized model.
-- Token indices count output tokens (0 = first generated token); steps are 0-based step_idx.
CREATE TABLE flips (
    base_run_id        VARCHAR NOT NULL,
    quant_run_id       VARCHAR NOT NULL,
    problem_id         VARCHAR NOT NULL,
    sample_idx         INTEGER NOT NULL,
    quant_model_id     VARCHAR NOT NULL,
    n_tokens           INTEGER NOT NULL, -- output tokens scored
    n_flips            INTEGER NOT NULL, -- tokens whose quantized argmax differs from the base token
    first_flip_token   INTEGER,          -- NULL: the quantized model agrees on every token
    first_flip_char    INTEGER,          -- character offset of that token in the output
    first_flip_step    INTEGER,
    base_token         VARCHAR,          -- the base token at the flip, and what the quantized model preferred
    quant_token        VARCHAR,
    flip_logprob       DOUBLE,           -- log-prob of the base token under the quantized model there
    flip_margin        DOUBLE,           -- p(top1) - p(top2) of the quantized model there
    mean_logprob       DOUBLE,           -- mean log-prob of the base tokens under the quantized model
    window_start       INTEGER,          -- first token index of the margin window
    margins_json       VARCHAR,          -- p(top1) - p(top2) for the tokens around the flip
    logprobs_json      VARCHAR,          -- base-token log-probs for the same window
    step_logprob_json  VARCHAR,          -- mean base-token log-prob per step
    n_control_mismatch INTEGER,          -- tokens where the base model itself prefers another token (NULL: no control run)
    device             VARCHAR,
    dtype              VARCHAR,
    created_at         TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (base_run_id, quant_run_id, problem_id, sample_idx)
);

-- Every judge vote, parsed or not, with the judge's raw output.
CREATE TABLE judge_votes (
    run_id           VARCHAR NOT NULL,
    problem_id       VARCHAR NOT NULL,
    sample_idx       INTEGER NOT NULL,
    judge            VARCHAR NOT NULL,  -- e.g. hf:smollm2-135m
    base_run_id      VARCHAR,           -- whose trace the prompt showed, if any
    prompt_version   VARCHAR NOT NULL,
    raw_output       VARCHAR,
    parsed           BOOLEAN NOT NULL,
    parse_error      VARCHAR,           -- no-json | bad-json | trailing-text | missing-field | step-out-of-range | unknown-type | ...
    first_error_step INTEGER,           -- 0-based step_idx (-1 never stored: "no error" is NULL)
    error_type       VARCHAR,
    rationale        VARCHAR,
    latency_ms       DOUBLE,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, problem_id, sample_idx, judge)
);

-- False arithmetic claims found by the symbolic checker.
CREATE TABLE symbolic_flags (
    run_id          VARCHAR NOT NULL,
    problem_id      VARCHAR NOT NULL,
    sample_idx      INTEGER NOT NULL,
    step_idx        INTEGER NOT NULL,
    claim_idx       INTEGER NOT NULL,
    claim           VARCHAR NOT NULL,   -- "lhs = rhs" as written
    lhs_value       VARCHAR NOT NULL,   -- exact values of both sides
    rhs_value       VARCHAR NOT NULL,
    stated          VARCHAR NOT NULL,   -- the value the step states
    true_value      VARCHAR NOT NULL,   -- the value the computed side really has
    checker_version VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, problem_id, sample_idx, step_idx, claim_idx)
);

-- diagnoses: which base run the evidence came from, and the evidence behind a combined verdict.
ALTER TABLE diagnoses ADD COLUMN base_run_id VARCHAR;
ALTER TABLE diagnoses ADD COLUMN evidence_json VARCHAR;
