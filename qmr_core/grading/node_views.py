"""A parsed answer (structure.Node) seen as another kind, for comparing answers of different shapes:
``(B)`` as choice B, the pair ``(1, 2)`` as an interval, a one-row matrix as a vector, ``x = 3`` as a
relation. Pure functions of the node; the comparisons themselves are in equivalence.py.
"""

from __future__ import annotations

import re

from .answer_nodes import Assignment, Choice, Interval, Matrix, Node, Relation, Scalar, Seq, Text, UnionSet
from .structure import text_key


def choice_of(n: Node) -> str | None:
    if isinstance(n, Choice):
        return n.letter
    if isinstance(n, Scalar):
        t = n.canon.strip("()")
        if len(t) == 1 and t.isalpha():
            return t.upper()
    if isinstance(n, Text) and len(n.value) == 1 and n.value.isalpha():
        return n.value.upper()
    return None


def text_of(n: Node) -> str | None:
    if isinstance(n, Text):
        return n.value
    if isinstance(n, Scalar):
        return text_key(n.text)
    return None


def as_interval(n: Node) -> Interval | None:
    if isinstance(n, Interval):
        return n
    if isinstance(n, Seq) and n.kind == "pair":
        lo, hi = n.items
        if isinstance(lo, Scalar) and isinstance(hi, Scalar):
            return Interval(False, lo, hi, False)
    if isinstance(n, UnionSet) and len(n.parts) == 1:
        return as_interval(n.parts[0])
    return None


def vector(n: Node) -> tuple[Node, ...] | None:
    if isinstance(n, Matrix):
        if len(n.rows) == 1:
            return n.rows[0]
        if all(len(r) == 1 for r in n.rows):
            return tuple(r[0] for r in n.rows)
        return None
    if isinstance(n, Seq) and n.kind in ("tuple", "pair", "list"):
        return n.items
    return None


def node_key(n: Node) -> str:
    return n.canon if isinstance(n, Scalar) else repr(n)


def as_relation(a: Assignment) -> Relation | None:
    if isinstance(a.value, Scalar):
        return Relation((Scalar(a.var), a.value), ("=",))
    return None


_CMD = re.compile(r"\\[a-zA-Z]+")


def ray_as_relation(iv: Interval, rel: Relation) -> Relation | None:
    """A half-line ``(-\\infty, b)`` / ``[a, \\infty)`` as ``v < b`` / ``a \\leq v`` in the one variable of
    ``rel`` (``x < 1`` read as an interval vs ``-x > -1``); None for a bounded interval or another relation."""
    letters = set(re.findall(r"[a-zA-Z]", "".join(_CMD.sub("", p.text) for p in rel.parts)))
    letters.discard("e")  # Euler's number: "-e > -1" has no variable
    if len(rel.parts) != 2 or len(letters) != 1:
        return None
    var = Scalar(letters.pop())
    if iv.lo.canon == "-\\infty" and iv.hi.canon != "\\infty":
        return Relation((var, iv.hi), ("\\leq" if iv.right_closed else "<",))
    if iv.hi.canon == "\\infty" and iv.lo.canon != "-\\infty":
        return Relation((iv.lo, var), ("\\leq" if iv.left_closed else "<",))
    return None
