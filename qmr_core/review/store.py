"""Blind labels and review sets (stored by qmr_core/store/review_sets.py, which holds their SQL), bound to
the taxonomy: a blind label's error type must be one of its types."""

from qmr_core.review.annotations import ERROR_TYPES
from qmr_core.store.review_sets import REVIEW_SCHEMA_VERSION, BlindLabel, ReviewItem, ReviewSet, ReviewSetStore


class ReviewStore(ReviewSetStore):
    """The annotations file plus its blind-review tables."""

    error_types = ERROR_TYPES


__all__ = ["REVIEW_SCHEMA_VERSION", "BlindLabel", "ReviewItem", "ReviewSet", "ReviewStore"]
