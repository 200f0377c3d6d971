"""The researcher's verdicts on diagnoses: the annotations side file (qmr_core/store/annotations.py,
which holds its SQL) and the error types a verdict may name (the taxonomy's)."""

from qmr_core.diagnose.taxonomy import ERROR_TYPES as TAXONOMY
from qmr_core.store.annotations import (
    ANNOTATION_SCHEMA_VERSION, ARROW_SCHEMA, VERDICTS, Annotation, AnnotationStore, SampleKey, annotations_path,
    default_author, empty_annotations,
)

ERROR_TYPES = tuple(TAXONOMY)  # Conceptual, Method, Execution, Reasoning, Degenerate

__all__ = [
    "ANNOTATION_SCHEMA_VERSION", "ARROW_SCHEMA", "ERROR_TYPES", "VERDICTS", "Annotation", "AnnotationStore", "SampleKey",
    "annotations_path", "default_author", "empty_annotations",
]
