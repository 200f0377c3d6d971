-- qmr store, schema version 6: the precision a model's weights had at their source (issue 14).

-- What the loaded weights were before qmr read them: a GGUF quantization type (Q4_1, Q8_0, ...: the
-- "full precision" run of such a model is a dequantized copy), or a float checkpoint's dtype (bf16,
-- fp16, fp32). NULL when unknown. Labels name it: "fp32 (dequantized Q4_1)".
ALTER TABLE models ADD COLUMN source_precision VARCHAR;

-- Stores made before v6: a GGUF file's type is in its name (SmolLM2-135M-Instruct.Q4_1.gguf).
UPDATE models
SET source_precision = upper(regexp_extract(source, '[.-]((?:I?Q|TQ)[0-9][A-Za-z0-9_]*|BF16|F16|F32)\.gguf$', 1))
WHERE source_precision IS NULL AND regexp_matches(source, '[.-]((?:I?Q|TQ)[0-9][A-Za-z0-9_]*|BF16|F16|F32)\.gguf$');
