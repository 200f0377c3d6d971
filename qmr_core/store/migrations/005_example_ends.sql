-- qmr store, schema version 5: where each side of a recovery example ends.

-- Whether each side of a recovery example is the end of its trace (the model stopped with EOS) or was
-- cut by the token limit: training appends EOS only to a continuation that really ended.
-- NULL on sets built before v5 (unknown: treated as ended, as training did then).
ALTER TABLE recovery_examples ADD COLUMN chosen_complete BOOLEAN;
ALTER TABLE recovery_examples ADD COLUMN rejected_complete BOOLEAN;
