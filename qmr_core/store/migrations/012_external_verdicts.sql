-- Verdicts of another tool (lm-eval filters, Inspect scorers, lighteval metrics) on imported samples, kept beside
-- qmr's own regrade so a report can show both and list where they disagree.
CREATE TABLE IF NOT EXISTS external_verdicts (
    run_id     VARCHAR NOT NULL,
    problem_id VARCHAR NOT NULL,
    sample_idx INTEGER NOT NULL,
    source     VARCHAR NOT NULL,  -- lm-eval | inspect | lighteval
    metric     VARCHAR NOT NULL,  -- the tool's metric, with its filter or scorer: exact_match,strict-match
    correct    BOOLEAN,           -- NULL: the tool's value is not a right/wrong verdict
    value      VARCHAR,           -- the tool's raw value (score, letter, number)
    extracted  VARCHAR,           -- the answer the tool extracted, where it says
    PRIMARY KEY (run_id, problem_id, sample_idx, source, metric)
);
