-- qmr store, schema version 4: layer-wise sensitivity and recovery fine-tuning (issue 8).

-- One sensitivity analysis: a model, a quantizer, and the full-precision traces it was measured on.
CREATE TABLE sensitivity_runs (
    sens_id        VARCHAR PRIMARY KEY,   -- hash of (model, quantizer, traces)
    model_id       VARCHAR NOT NULL,      -- the full-precision model
    method         VARCHAR NOT NULL,      -- rtn | gptq | awq ... (weights swapped in from a checkpoint)
    bits           INTEGER,
    group_size     INTEGER,
    is_symmetric   BOOLEAN,
    quantizer_json VARCHAR NOT NULL,      -- RTN spec, or the checkpoint the weights come from
    trace_run_id   VARCHAR,               -- the run whose correct traces were scored
    n_traces       INTEGER NOT NULL,
    n_tokens       INTEGER NOT NULL,      -- output tokens scored per configuration
    baseline_nll   DOUBLE NOT NULL,       -- mean NLL of those tokens under the full-precision model
    baseline_acc   DOUBLE,                -- accuracy on the accuracy subset at full precision
    n_acc_problems INTEGER,
    seconds        DOUBLE,
    device         VARCHAR,
    qmr_version    VARCHAR,
    created_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- One row per configuration: a (layer, module kind) cell, a whole layer (module = 'all'),
-- or one module kind in every layer (layer = -1).
CREATE TABLE sensitivity (
    sens_id    VARCHAR NOT NULL,
    layer      INTEGER NOT NULL,          -- decoder layer index; -1 = every layer
    module     VARCHAR NOT NULL,          -- q_proj | k_proj | ... | all
    n_modules  INTEGER NOT NULL,          -- Linear modules quantized in this configuration
    weight_err DOUBLE,                    -- ||W - Q(W)|| / ||W|| over those modules
    out_err    DOUBLE,                    -- relative error of the last quantized layer's output
    nll        DOUBLE NOT NULL,           -- mean NLL of the traces' output tokens
    delta_nll  DOUBLE NOT NULL,           -- nll - baseline_nll
    delta_nll_se DOUBLE,                  -- its standard error, clustered by trace
    accuracy   DOUBLE,                    -- on the accuracy subset, when measured
    seconds    DOUBLE,
    PRIMARY KEY (sens_id, layer, module)
);

-- A curated "silver bullet" set built from a comparison: targeted examples cut at the first faulty
-- step, and a control set of equal size cut at random steps.
CREATE TABLE recovery_sets (
    set_id        VARCHAR PRIMARY KEY,
    base_run_id   VARCHAR NOT NULL,
    quant_run_id  VARCHAR NOT NULL,
    judge         VARCHAR,                -- whose diagnoses located the faulty step
    filters_json  VARCHAR NOT NULL,       -- error types and other selection settings
    seed          INTEGER NOT NULL,
    n_targeted    INTEGER NOT NULL,
    n_control     INTEGER NOT NULL,
    holdout_json  VARCHAR NOT NULL,       -- lost problems kept out of training, for evaluation
    export_dir    VARCHAR,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE recovery_examples (
    set_id       VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,        -- targeted | control
    problem_id   VARCHAR NOT NULL,
    sample_idx   INTEGER NOT NULL,
    cut_step     INTEGER NOT NULL,        -- step the prefix stops before (of the trace cut_in names)
    cut_char     INTEGER NOT NULL,        -- prefix length in characters of that trace
    cut_in       VARCHAR NOT NULL,        -- shared (both traces agree up to the cut) | full_precision (control only)
    error_step   INTEGER,                 -- the diagnosed first faulty step
    error_type   VARCHAR,
    prompt       VARCHAR NOT NULL,        -- model prompt + shared prefix
    chosen       VARCHAR NOT NULL,        -- full-precision continuation
    rejected     VARCHAR NOT NULL,        -- quantized continuation
    PRIMARY KEY (set_id, kind, problem_id, sample_idx)
);

-- A trained recovery adapter; its evaluation is a run whose parent_run_id is the quantized run.
CREATE TABLE recoveries (
    adapter_id     VARCHAR PRIMARY KEY,
    set_id         VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,      -- which examples trained it: targeted | control
    objective      VARCHAR NOT NULL,      -- sft | dpo
    quant_model_id VARCHAR NOT NULL,
    model_id       VARCHAR NOT NULL,      -- the recovered model (quantized base + adapter)
    parent_run_id  VARCHAR NOT NULL,
    hparams_json   VARCHAR NOT NULL,
    n_train        INTEGER NOT NULL,
    steps          INTEGER,
    train_seconds  DOUBLE,
    final_loss     DOUBLE,
    losses_json    VARCHAR,
    adapter_path   VARCHAR NOT NULL,
    eval_run_id    VARCHAR,
    summary_json   VARCHAR,               -- what was recovered, by error type
    created_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
);
