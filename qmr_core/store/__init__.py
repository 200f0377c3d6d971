from qmr_core.store.store import SCHEMA_VERSION, Store, upsert_rows

__all__ = ["SCHEMA_VERSION", "Store", "upsert_rows"]
