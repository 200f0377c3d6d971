-- qmr store: fp-referenced divergence in both directions (issue 13, item 5).
-- One row per (base run, quantized run, problem, quantized sample) of the lost and both-right problems.
-- Token indices count output tokens (0 = first generated token); offsets are character offsets in that
-- trace's output; steps are 0-based step_idx of that trace. Per-token values are LIST columns.
CREATE TABLE divergence (
    base_run_id         VARCHAR NOT NULL,
    quant_run_id        VARCHAR NOT NULL,
    problem_id          VARCHAR NOT NULL,
    sample_idx          INTEGER NOT NULL,  -- the quantized sample
    base_sample_idx     INTEGER NOT NULL,  -- the full-precision sample it was paired with
    -- the full-precision trace fed to both models: KL(fp || quant) of their next-token distributions
    fp_n_tokens         INTEGER NOT NULL,
    kl_mean             DOUBLE,            -- nats per token
    kl_max              DOUBLE,
    kl_tokens           FLOAT[],
    fp_offsets          INTEGER[],
    kl_steps            DOUBLE[],          -- mean KL per full-precision step
    -- the quantized trace fed to the full-precision model: surprisal -log p_fp (nats) of its tokens
    q_n_tokens          INTEGER NOT NULL,
    surprisal_mean      DOUBLE,
    surprisal_max       DOUBLE,
    surprisal_tokens    FLOAT[],
    fp_rank_tokens      INTEGER[],         -- 0 = the fp model's own top choice
    q_offsets           INTEGER[],
    surprisal_steps     DOUBLE[],          -- mean surprisal per quantized step
    surprisal_step_max  DOUBLE[],
    n_seams             INTEGER NOT NULL,  -- tokens the quantized model itself would not produce (skipped)
    seam_tokens         INTEGER[],
    -- judge-free locator: the first step the full-precision model would not have written
    first_unlikely_token INTEGER,          -- first non-seam token with surprisal > unlikely_nats (NULL: none)
    first_unlikely_step  INTEGER,          -- its quantized step
    first_unlikely_text  VARCHAR,
    unlikely_nats        DOUBLE NOT NULL,
    fp_model_id         VARCHAR,
    quant_model_id      VARCHAR,
    device              VARCHAR,
    dtype               VARCHAR,
    created_at          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (base_run_id, quant_run_id, problem_id, sample_idx)
);
