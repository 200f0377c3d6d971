"""Answer structure: split a cleaned answer into typed nodes (no sympy).

Scalars stay LaTeX strings; only their arrangement is decided here: ordered tuples,
unordered solution lists/sets, intervals and unions, matrices, relations (equations,
inequalities, assignments ``x=3``), multiple-choice letters, text and base-subscript numbers.
"""

from __future__ import annotations

import re

from .answer_nodes import Assignment, Based, Choice, Interval, Matrix, Node, Relation, Scalar, Seq, Text, UnionSet
from .names import clock_key, contradictory, is_name, ratio_parts
from .normalize import strip_markers

MAX_PM_EXPANSIONS = 3



_CMD = re.compile(r"\\[a-zA-Z]+")
_ANGLE = re.compile(r"\\(langle|rangle)(?![a-zA-Z])")
_OPEN = "([{"
_CLOSE = ")]}"
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_MATRIX = re.compile(r"^\\begin\{([pbBvV]?matrix|array|smallmatrix)\}(.*)\\end\{\1\}$", re.DOTALL)
_TEXT_ONLY = re.compile(r"^\\text\{([^{}]*)\}$")
_CHOICE = re.compile(r"^\(?\s*([A-Z])\s*\)?$")
_VAR = re.compile(r"^(?:[a-zA-Z]|\\(?:alpha|beta|gamma|theta|phi|lambda|mu|omega|rho|sigma|tau|psi))(?:_\{?\w+\}?)?'*$")
_FUNC_VAR = re.compile(r"^[a-zA-Z](?:\([a-zA-Z]\))?$|^\(\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])+\s*\)$")
_FUNC_OF_VAR = re.compile(r"^[a-zA-Z]\([a-zA-Z]\)$")  # "0 < f(x) < 1": the range of f
_IN_PREFIX = re.compile(r"^(?:[a-zA-Z]|\\theta)\s*\\in\s*")
_BASED = re.compile(r"^(-?[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)?)_\{?\(?(\d+)\)?\}?$")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z '\-]*$")
_REL = re.compile(r"\\leq|\\geq|\\neq|<|>|=")
_ALT_SEP = re.compile(r"\s*(?:\\text\{\s*(?:or|and)\s*\}|(?:\\q?quad\s*)?\b(?:or|and)\b)\s*")


def _scan(s: str):
    """Yield (index, char, depth) with brackets and braces counted (``\\{`` too)."""
    depth = 0
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            nxt = s[i + 1]
            if nxt in "{}":
                depth += 1 if nxt == "{" else -1
                yield i, c + nxt, depth
                i += 2
                continue
            m = _ANGLE.match(s, i)
            if m:
                depth += 1 if m.group(1) == "langle" else -1
                i = m.end()
                continue
            yield i, c, depth
            i += 1
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        yield i, c, depth
        i += 1


def _thousands_comma(s: str, i: int, memo: dict[int, bool] | None = None) -> bool:
    """A comma between a 1-3 digit run and exactly three digits (no spaces): 58,500.

    The digit run before it must itself follow a thousands comma if a comma precedes it;
    ``memo`` keeps that chain linear when every comma of a string is asked about."""
    memo = {} if memo is None else memo
    if i in memo:
        return memo[i]
    chain = [i]  # commas whose answer depends on the previous comma's, latest first
    ok = True
    while True:
        k = chain[-1]
        j = k
        while j > 0 and s[j - 1].isdigit() and k - j <= 3:
            j -= 1
        run = k - j
        tail = s[k + 1 : k + 5]
        if not (1 <= run <= 3 and len(tail) >= 3 and tail[:3].isdigit() and (len(tail) == 3 or not tail[3].isdigit())):
            ok = False
            break
        if j > 0 and s[j - 1] in ".,":
            if j - 1 in memo:
                ok = memo[j - 1]
                break
            chain.append(j - 1)
            continue
        break
    if not ok:  # the earliest comma in the chain failed; every later one fails with it
        for k in chain:
            memo[k] = False
        return False
    for k in chain:
        memo[k] = True
    return True


def split_top(s: str, seps: str = ",;", thousands: bool = True) -> list[str]:
    """Split at top-level separators; a thousands comma (58,500) does not split when allowed."""
    parts: list[str] = []
    start = 0
    memo: dict[int, bool] = {}
    for i, c, depth in _scan(s):
        if depth == 0 and c in seps and len(c) == 1 and not (thousands and c == "," and _thousands_comma(s, i, memo)):
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def _split_alternatives(s: str) -> list[str]:
    """Split a top-level "a or b" / "a \\text{ and } b" list."""
    if not re.search(r"\b(?:or|and)\b", s):
        return [s]
    marked = s
    out: list[str] = []
    start = 0
    for m in _ALT_SEP.finditer(marked):
        depth = _depth_at(marked, m.start())
        if depth == 0:
            out.append(marked[start : m.start()])
            start = m.end()
    out.append(marked[start:])
    return [p.strip() for p in out if p.strip()]


_OR_WORD = re.compile(r"\bor\b")
_CUP = re.compile(r"\\cup(?![a-zA-Z])")
_APPROX = re.compile(r"\\approx(?![a-zA-Z])|\\sim(?![a-zA-Z])")


def _split_top_token(s: str, pat: re.Pattern[str]) -> list[str]:
    out: list[str] = []
    start = 0
    for m in pat.finditer(s):
        if _depth_at(s, m.start()) == 0:
            out.append(s[start : m.start()].strip())
            start = m.end()
    out.append(s[start:].strip())
    return out


def _depth_at(s: str, pos: int) -> int:
    depth = 0
    for i, _c, d in _scan(s):
        if i >= pos:
            return depth
        depth = d
    return depth


def _enclosed(s: str, open_tok: str, close_tok: str) -> bool:
    """True if s starts with open_tok and its matching close is close_tok at the very end."""
    if not (s.startswith(open_tok) and s.endswith(close_tok)):
        return False
    body_end = len(s) - len(close_tok)
    for i, _c, depth in _scan(s):
        if depth == 0 and 0 < i < body_end:
            return False
    return True


def _enclosed_any(s: str) -> tuple[str, str] | None:
    if not s or s[0] not in "([" or s[-1] not in ")]":
        return None
    for i, _c, depth in _scan(s):
        if depth == 0 and i < len(s) - 1:
            return None
    return s[0], s[-1]


def _expand_pm(s: str) -> list[str]:
    if "\\pm" not in s and "\\mp" not in s:
        return [s]
    out = [s]
    for _ in range(MAX_PM_EXPANSIONS):
        nxt: list[str] = []
        for t in out:
            m = re.search(r"\\(pm|mp)(?![a-zA-Z])", t)
            if not m:
                nxt.append(t)
                continue
            first, second = ("+", "-") if m.group(1) == "pm" else ("-", "+")
            head, tail = t[: m.start()], t[m.end() :]
            nxt.extend([head + first + tail, head + second + tail])
        out = nxt
    return [re.sub(r"^\s*\+", "", t).strip() for t in out]


def text_key(s: str) -> str:
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    return re.sub(r"[^0-9a-z]", "", s.lower())


def parse_answer(s: str) -> Node | None:
    s = s.strip()
    if not s:
        return None
    if _THOUSANDS.match(s):
        return Scalar(s)
    m = _IN_PREFIX.match(s)
    if m:
        s = s[m.end() :]
    items = [p for p in split_top(s) if p]
    alts: list[str] = []
    for it in items:
        alts.extend(_split_alternatives(it))
    if len(alts) > 1:  # "3 or 4": alternatives (a hedge, or all solutions), never an ordered pair
        kind = "alt" if _OR_WORD.search(s) else "list"
        return Seq(kind, tuple(_flatten_pm(_item(a) for a in alts)))
    if not alts:
        return None
    node = _item(alts[0])
    return node


def _flatten_pm(nodes) -> list[Node]:
    out: list[Node] = []
    for n in nodes:
        if isinstance(n, Seq) and n.kind == "pm":
            out.extend(n.items)
        else:
            out.append(n)
    return out


def _unwrap_assignment(n: Node) -> Node:
    return n.value if isinstance(n, Assignment) else n


def _text_only(inner: str) -> Node | str:
    """An answer that is one `\\text{...}`: a choice, a set of choices or words; else the number it holds,
    as text to read on."""
    c = _CHOICE.match(inner)
    if c:
        return Choice(c.group(1))
    parts = [p.strip() for p in inner.split(",")]
    if len(parts) > 1 and all(_CHOICE.match(p) for p in parts):
        return Seq("set", tuple(Choice(_CHOICE.match(p).group(1)) for p in parts))  # type: ignore[union-attr]
    if not re.search(r"\d", inner):
        return Text(text_key(inner))
    head = strip_markers(inner).text
    if re.search(r"[a-zA-Z]", _CMD.sub("", head)):
        return Text(text_key(inner))  # "4:30 p.m."
    return head


def _item(s: str) -> Node:
    s = s.strip()
    clock = clock_key(s)
    if clock is not None:  # "4:30 PM" == "\\text{4:30 p.m.}" != "4:30 a.m."
        return Text(clock)
    m = _MATRIX.match(s)
    if m:
        return _matrix(m.group(1), m.group(2))
    m = _TEXT_ONLY.match(s)
    if m:
        read = _text_only(m.group(1).strip())
        if not isinstance(read, str):
            return read
        s = read
    if re.fullmatch(r"\(\s*[A-Z]\s*\)", s):
        return Choice(s.strip("() "))
    if _enclosed(s, "\\{", "\\}"):
        inner = s[2:-2]
        return Seq("set", tuple(_flatten_pm(_item(p) for p in split_top(inner, thousands=False) if p)))
    if _enclosed(s, "\\langle", "\\rangle"):
        inner = s[len("\\langle") : -len("\\rangle")]
        return Seq("tuple", tuple(_unwrap_assignment(_item(p)) for p in split_top(inner, thousands=False)))
    union = _split_top_token(s, _CUP)
    if len(union) > 1:
        members = tuple(_item(p) for p in union)
        if all(isinstance(p, (Interval, Seq)) for p in members):
            return UnionSet(tuple(_as_interval(p) for p in members))
    br = _enclosed_any(s)
    if br is not None:
        inner_items = split_top(s[1:-1], thousands=False)
        if len(inner_items) == 2 and br != ("(", ")"):
            return Interval(br[0] == "[", Scalar(inner_items[0]), Scalar(inner_items[1]), br[1] == "]")
        if br == ("(", ")"):
            if len(inner_items) == 1:
                return _item(inner_items[0])
            kind = "pair" if len(inner_items) == 2 else "tuple"
            return Seq(kind, tuple(_unwrap_assignment(_item(p)) for p in inner_items))
        if br == ("[", "]") and len(inner_items) == 1:
            return _item(inner_items[0])
    approx = _split_top_token(s, _APPROX)
    if len(approx) == 2 and not approx[0] and approx[1]:
        return _item(approx[1])  # "\approx 0.33": the value (exact only if the problem asks for rounding)
    if len(approx) > 1 and all(approx):
        # "\frac13 \approx 0.333" -> the exact value; "x \approx 0.33" -> the value.
        head = approx[0]
        return _item(approx[1] if _VAR.match(head) else re.split(r"=", head)[-1] if "=" in head else head)
    rel = _relation(s)
    if rel is not None:
        return rel
    ratio = ratio_parts(s, split_top)
    if ratio is not None:  # "7:32", "12:00": ordered parts, never a division
        return Seq("ratio", tuple(_item(p) for p in ratio))
    pm = _expand_pm(s)
    if len(pm) > 1:
        return Seq("pm", tuple(Scalar(p) for p in pm))
    m = _BASED.match(s.replace(" ", ""))
    if m and not m.group(1).lstrip("-").isalpha():
        return Based(m.group(1).upper(), m.group(2))
    return Scalar(s)


def _as_interval(n: Node) -> Node:
    if isinstance(n, Seq) and n.kind == "pair":
        lo, hi = n.items
        if isinstance(lo, Scalar) and isinstance(hi, Scalar):
            return Interval(False, lo, hi, False)
    return n


def _matrix(env: str, body: str) -> Node:
    if env == "array":
        body = re.sub(r"^\s*\{[lcr|\s]*\}", "", body)
    rows = [r for r in re.split(r"\\\\(?:\[[^\]]*\])?", body) if r.strip()]
    cells = tuple(tuple(Scalar(c.strip()) for c in r.split("&")) for r in rows)
    return Matrix(cells)


_FLIP = {">": "<", "\\geq": "\\leq"}


def _relation(s: str) -> Node | None:
    pieces: list[str] = []
    ops: list[str] = []
    start = 0
    for i, _c, depth in _scan(s):
        if depth != 0 or i < start:
            continue
        m = _REL.match(s, i)
        if m:
            pieces.append(s[start:i].strip())
            ops.append(m.group(0))
            start = m.end()
    if not ops:
        return None
    pieces.append(s[start:].strip())
    if any(not p for p in pieces):
        return None
    if all(o == "=" for o in ops) and not contradictory(pieces):
        if _VAR.match(pieces[0]) or _FUNC_VAR.match(pieces[0]) or is_name(pieces[0]):
            value = pieces[-1]
            return Assignment(pieces[0].replace(" ", ""), _item(value))
        if all(not re.search(r"[a-zA-Z]", _CMD.sub("", p)) for p in pieces):
            # "12 \times 7 = 84", "2 \cdot 3 = 6\pi": the value is the last part (not "7 = 11a+c")
            return _item(pieces[-1])
    ineq = _inequality_interval(pieces, ops)
    if ineq is not None:
        return ineq
    # Canonical direction: ">" and "\geq" become "<" / "\leq" by reversing the chain.
    if all(o in _FLIP for o in ops):
        pieces = pieces[::-1]
        ops = [_FLIP[o] for o in ops[::-1]]
    return Relation(tuple(Scalar(p) for p in pieces), tuple(ops))


def _inequality_interval(pieces: list[str], ops: list[str]) -> Node | None:
    """``a < x \\leq b``, ``x > a`` ... over one variable -> Interval."""
    if any(o in ("=", "\\neq") for o in ops):
        return None
    if len(ops) == 2 and (_VAR.match(pieces[1]) or _FUNC_OF_VAR.match(pieces[1])):
        if all(o in ("<", "\\leq") for o in ops):
            return Interval(ops[0] == "\\leq", Scalar(pieces[0]), Scalar(pieces[2]), ops[1] == "\\leq")
        if all(o in (">", "\\geq") for o in ops):
            return Interval(ops[1] == "\\geq", Scalar(pieces[2]), Scalar(pieces[0]), ops[0] == "\\geq")
        return None
    if len(ops) != 1:
        return None
    op = ops[0]
    left, right = pieces
    inf, ninf = Scalar("\\infty"), Scalar("-\\infty")
    if _VAR.match(left) and not _VAR.match(right):
        var_left = True
    elif _VAR.match(right) and not _VAR.match(left):
        var_left = False
    else:
        return None
    bound = Scalar(right if var_left else left)
    closed = op in ("\\leq", "\\geq")
    upper = (op in ("<", "\\leq")) == var_left  # x < b  or  b > x
    if upper:
        return Interval(False, ninf, bound, closed)
    return Interval(closed, bound, inf, False)
