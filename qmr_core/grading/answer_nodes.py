"""The node types of a parsed answer (structure.py builds them; equivalence.py compares them).

Scalars stay LaTeX strings: only their arrangement is typed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .normalize import canonical


@dataclass(frozen=True)
class Scalar:
    text: str  # cleaned LaTeX of one expression

    @property
    def canon(self) -> str:
        return canonical(self.text)


@dataclass(frozen=True)
class Seq:
    kind: str  # "tuple"/"pair" (ordered; (a,b) point or open interval), "list"/"set"/"alt" ("3 or 4"), "ratio" (a:b)
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Interval:
    left_closed: bool
    lo: Scalar
    hi: Scalar
    right_closed: bool


@dataclass(frozen=True)
class UnionSet:
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[Scalar, ...], ...]


@dataclass(frozen=True)
class Relation:
    parts: tuple[Scalar, ...]
    ops: tuple[str, ...]  # "=", "<", "\\leq", "\\neq" (">" forms are flipped to "<")


@dataclass(frozen=True)
class Assignment:
    var: str
    value: "Node"


@dataclass(frozen=True)
class Text:
    value: str  # lowercased, alphanumerics only


@dataclass(frozen=True)
class Choice:
    letter: str


@dataclass(frozen=True)
class Based:
    digits: str
    base: str


Node = Union[Scalar, Seq, Interval, UnionSet, Matrix, Relation, Assignment, Text, Choice, Based]
