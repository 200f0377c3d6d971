-- qmr store, schema version 1. One file per version; applied in order on open.
CREATE TABLE models (
    model_id          VARCHAR PRIMARY KEY,
    name              VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,      -- alias, HF id, local dir or GGUF file it loads from
    base_model_id     VARCHAR,               -- the full-precision model a quantized one derives from
    method            VARCHAR NOT NULL,      -- none | rtn | gptq | awq | smoothquant | ...
    bits              INTEGER,               -- weight bits; NULL for full precision
    group_size        INTEGER,               -- -1 = per channel
    act_bits          INTEGER,
    is_symmetric      BOOLEAN,
    backend           VARCHAR,               -- qmr-rtn | llmcompressor | gptqmodel | ...
    backend_version   VARCHAR,
    spec_json         VARCHAR,               -- the full QuantSpec / load recipe
    calib_json        VARCHAR,
    config_json       VARCHAR,               -- model architecture summary
    n_params          BIGINT,
    size_bytes        BIGINT,
    quant_seconds     DOUBLE,
    peak_rss_bytes    BIGINT,
    layer_errors_json VARCHAR,               -- per-layer relative weight error
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE problems (
    problem_id   VARCHAR PRIMARY KEY,        -- <benchmark>/<unique_id>
    benchmark    VARCHAR NOT NULL,
    unique_id    VARCHAR NOT NULL,
    subject      VARCHAR,
    level        INTEGER,
    kind         VARCHAR NOT NULL,           -- math | gsm8k (answer style)
    problem      VARCHAR NOT NULL,
    solution     VARCHAR,
    answer       VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL
);

CREATE TABLE runs (
    run_id          VARCHAR PRIMARY KEY,     -- hash of (model, benchmark, prompt, decoding)
    model_id        VARCHAR NOT NULL,
    benchmark       VARCHAR NOT NULL,
    prompt_template VARCHAR NOT NULL,
    prompt_text     VARCHAR NOT NULL,
    decoding_json   VARCHAR NOT NULL,
    engine          VARCHAR NOT NULL,
    engine_json     VARCHAR,                 -- device, dtype, batch size, library versions
    parent_run_id   VARCHAR,                 -- e.g. a recovery run's source
    status          VARCHAR NOT NULL,        -- running | done | failed
    qmr_version     VARCHAR,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at     TIMESTAMP
);

CREATE TABLE samples (
    run_id           VARCHAR NOT NULL,
    problem_id       VARCHAR NOT NULL,
    sample_idx       INTEGER NOT NULL,
    prompt           VARCHAR,                -- exactly what the model saw (chat template applied)
    output           VARCHAR NOT NULL,
    extracted_answer VARCHAR,
    extract_method   VARCHAR,
    correct          BOOLEAN NOT NULL,
    grade_rule       VARCHAR,
    grader_version   VARCHAR,
    step_format      VARCHAR,                -- tagged | paragraph | sentence | empty
    n_steps          INTEGER,
    n_prompt_tokens  INTEGER,
    n_tokens         INTEGER,
    latency_ms       DOUBLE,
    finish_reason    VARCHAR,                -- eos | length | error
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, problem_id, sample_idx)
);

CREATE TABLE steps (
    run_id     VARCHAR NOT NULL,
    problem_id VARCHAR NOT NULL,
    sample_idx INTEGER NOT NULL,
    step_idx   INTEGER NOT NULL,
    text       VARCHAR NOT NULL,
    span_start INTEGER NOT NULL,
    span_end   INTEGER NOT NULL,
    PRIMARY KEY (run_id, problem_id, sample_idx, step_idx)
);

CREATE TABLE pairs (
    base_run_id          VARCHAR NOT NULL,
    quant_run_id         VARCHAR NOT NULL,
    problem_id           VARCHAR NOT NULL,
    outcome              VARCHAR NOT NULL,   -- lost | gained | both_right | both_wrong
    first_divergent_step INTEGER,
    similarity           DOUBLE,
    PRIMARY KEY (base_run_id, quant_run_id, problem_id)
);

CREATE TABLE diagnoses (
    run_id           VARCHAR NOT NULL,
    problem_id       VARCHAR NOT NULL,
    sample_idx       INTEGER NOT NULL,
    judge            VARCHAR NOT NULL,
    first_error_step INTEGER,
    error_type       VARCHAR,
    capability       VARCHAR,
    rationale        VARCHAR,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, problem_id, sample_idx, judge)
);
