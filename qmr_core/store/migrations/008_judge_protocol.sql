-- qmr store, schema version 8: judge protocol v2, self-consistency, Degenerate subtypes (issue 13).
-- judge_votes gains vote_idx (K samples per judge and sample) in its key, the protocol that produced
-- each vote (version, constrained, temperature, max tokens) and what the verdict was read from.
CREATE TABLE judge_votes_v2 (
    run_id           VARCHAR NOT NULL,
    problem_id       VARCHAR NOT NULL,
    sample_idx       INTEGER NOT NULL,
    judge            VARCHAR NOT NULL,  -- e.g. hf:smollm2-135m
    vote_idx         INTEGER NOT NULL DEFAULT 0,  -- 0 .. K-1 (--judge-samples K)
    base_run_id      VARCHAR,
    prompt_version   VARCHAR NOT NULL,  -- judge-v1 | judge-v2
    protocol_json    VARCHAR,           -- {"version", "constrained", "temperature", "max_tokens"}; NULL for v1 votes
    raw_output       VARCHAR,
    parsed           BOOLEAN NOT NULL,
    parse_error      VARCHAR,           -- empty | unfinished-think | no-verdict | bad-step | step-out-of-range | unknown-type | ...
    first_error_step INTEGER,           -- 0-based step_idx; "no error" is NULL
    error_type       VARCHAR,
    rationale        VARCHAR,
    verdict_form     VARCHAR,           -- json | boxed
    latency_ms       DOUBLE,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, problem_id, sample_idx, judge, vote_idx)
);
INSERT INTO judge_votes_v2 (run_id, problem_id, sample_idx, judge, vote_idx, base_run_id, prompt_version, raw_output,
                            parsed, parse_error, first_error_step, error_type, rationale, latency_ms, created_at)
SELECT run_id, problem_id, sample_idx, judge, 0, base_run_id, prompt_version, raw_output, parsed, parse_error,
       first_error_step, error_type, rationale, latency_ms, created_at FROM judge_votes;
DROP TABLE judge_votes;
ALTER TABLE judge_votes_v2 RENAME TO judge_votes;

-- diagnoses: the Degenerate subtype (repetition | truncation | no-answer | abandoned) and, for the
-- combined verdict, which locator put the step forward (llm | symbolic | degenerate:<subtype> | divergence).
ALTER TABLE diagnoses ADD COLUMN subtype VARCHAR;
ALTER TABLE diagnoses ADD COLUMN located_by VARCHAR;
