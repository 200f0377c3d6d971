"""What the screens may see of the App: the store handles and the shared `BrowserState`.

The screens type their `app` as `BrowserApp`, so they import neither qmr_tui.app nor each other; the App
(qmr_tui.app.QmrApp) subclasses it and routes between the screens.
"""

from __future__ import annotations

import gc
from pathlib import Path

from textual.app import App

from qmr_core.review.annotations import AnnotationStore, default_author
from qmr_core.review.store import ReviewStore
from qmr_core.store import Store
from qmr_tui.state import BrowserState


class BrowserApp(App[None]):
    def __init__(self, db_path: str | Path, run: str | None = None, store: Store | None = None,
                 review: str | None = None, annotator: str | None = None) -> None:
        """`store`: an already opened (checked and migrated) Store for db_path, as the CLI has one.
        `review`: open this review set in blind review mode, labelling as `annotator` (default $QMR_ANNOTATOR / $USER)."""
        super().__init__()
        self.db_path = Path(db_path).expanduser()
        self.start_run = run
        self._given_store = store
        self.store: Store | None = None
        self.annotations = AnnotationStore.for_store(self.db_path)
        self.review_store = ReviewStore.for_store(self.db_path)
        self.review_set = review
        self.annotator = (annotator or default_author()).strip() or "unknown"
        self.state = BrowserState()
        self.sub_title = self.db_path.name

    def settle_heap(self) -> None:
        """Once a comparison has loaded: collect, then keep what is left out of later collections.

        A full collection walks every live object; with a 100k-sample comparison in memory it takes
        ~0.1 s, which would otherwise land on some later key press. Frozen objects are still freed by
        reference counting; unfreezing first lets what an earlier comparison left be collected.
        """
        gc.unfreeze()
        gc.collect()
        gc.freeze()
