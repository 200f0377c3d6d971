from qmr_core.store.store import READER_WARM_HOLD_S, SCHEMA_VERSION, Store, upsert_rows

__all__ = ["READER_WARM_HOLD_S", "SCHEMA_VERSION", "Store", "upsert_rows"]
