"""A named registry: what engines, quantization backends and judges are chosen from.

Adding an entry is one `register` call; every caller looks names up through `get`, so an unknown name
is one QmrError (one `error:` line in the CLI) that lists the known ones.
"""

from __future__ import annotations

from collections.abc import KeysView, ValuesView
from typing import Generic, TypeVar

from qmr_core.errors import QmrError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, listing: str = "available: ") -> None:
        self.what, self.listing = what, listing  # "unknown {what} 'x' ({listing}: a, b)"
        self._entries: dict[str, T] = {}

    @property
    def names(self) -> KeysView[str]:
        """A live view: `name in names`, `', '.join(names)` see later registrations."""
        return self._entries.keys()

    def entries(self) -> ValuesView[T]:
        return self._entries.values()

    def register(self, name: str, entry: T) -> None:
        self._entries[name] = entry

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise QmrError(f"unknown {self.what} '{name}' ({self.listing}{', '.join(self._entries)})") from None
