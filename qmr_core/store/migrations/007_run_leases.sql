-- qmr store, schema version 7: who is generating a run right now (issue 17).

-- One row per run being generated: the owning process (pid, host, and the pid's start time so a reused
-- pid is not mistaken for the owner). A second identical `qmr eval` finds a live owner and refuses to
-- duplicate its work; a `running` run whose owner is gone is shown as `interrupted`.
CREATE TABLE run_leases (
    run_id       VARCHAR PRIMARY KEY,
    pid          INTEGER NOT NULL,
    host         VARCHAR NOT NULL,
    proc_start   BIGINT,               -- /proc/<pid>/stat start time in clock ticks (NULL where unknown)
    acquired_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    heartbeat_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
