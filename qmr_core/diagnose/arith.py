"""Exact arithmetic on untrusted text: a tokenizer for plain-text and LaTeX arithmetic and a
recursive-descent parser that evaluates it with ``fractions.Fraction``.

Never eval or sympy. Every cost is bounded: text length, tokens per side, nesting depth, literal
digits, exponent size and the bit length of every intermediate value, so ``10^{10^{10}}`` is
refused (``Refused``), not computed. Used by the symbolic step checker (step_claims.py). Number
literals, percent and LaTeX braces are read by grading/exact_numbers.py, which the grader uses too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from qmr_core.grading.exact_numbers import FRAC_COMMANDS, NUMBER_IN_TEXT, brace_group, decimal_value, percent

MAX_TEXT = 20_000  # characters of a step that are read
MAX_SIDE_TOKENS = 120
MAX_DEPTH = 30
MAX_LITERAL_DIGITS = 30
MAX_BITS = 2_000  # numerator / denominator size after any operation
MAX_EXPONENT = 200

_OPS = {"+", "-", "*", "/", "^", "%"}
_MULT = {"*", "/"}

_CMD_OPS = {"times": "*", "cdot": "*", "ast": "*", "div": "/"}
_CMD_TEXT = {"text", "mathrm", "textbf", "mbox", "textit", "mathbf", "textrm", "operatorname", "textnormal", "mathit", "emph"}
_CMD_REL = {
    "approx", "neq", "ne", "le", "leq", "ge", "geq", "lt", "gt", "equiv", "sim", "simeq", "cong", "pm", "mp",
    "to", "rightarrow", "Rightarrow", "implies", "iff", "leftarrow", "Leftarrow", "longrightarrow", "propto",
}
_CMD_SPACE = {"quad", "qquad", "displaystyle", "boxed", "left", "right", "big", "Big", "bigg", "Bigg",
              "bigl", "bigr", "Bigl", "Bigr", "hspace", "mathstrut"}

_LABEL_RE = re.compile(  # "(total cookies)" or "(\text{light blue})"
    r"\((?:([A-Za-z][A-Za-z' \-]{0,40})|\s*\\(?:text|textrm|mathrm|mbox)\s*\{\s*([A-Za-z][A-Za-z' \-]{0,40})\}\s*)\)")


def _is_label(content: str) -> bool:
    """'(total cookies)', '(new)': words in brackets after a number; not '(x)', '(AC)', '(half)'."""
    words = re.findall(r"[A-Za-z]+", content)
    return any(len(w) >= 3 and w.islower() for w in words) and not {w.lower() for w in words} & _SCALE_WORDS


_SCALE_WORDS = frozenset("dozen dozens hundred hundreds thousand thousands million millions billion billions percent half".split())
_WORD_RE = re.compile(r"[A-Za-z]+")
_CMD_RE = re.compile(r"\\([A-Za-z]+)")

_UNICODE = {
    "\u2212": "-", "\u2013": " \u2013 ", "\u00d7": r" \times ", "\u00b7": r" \cdot ", "\u22c5": r" \cdot ",
    "\u00f7": r" \div ", "\u2217": "*", "\u00b2": "^2", "\u00b3": "^3", "\u2248": r" \approx ", "\u2260": r" \neq ",
    "\u2264": r" \leq ", "\u2265": r" \geq ", "\u2261": r" \equiv ", "\u21d2": r" \implies ", "\u2192": r" \to ",
    "\u2243": r" \simeq ", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}



class Refused(Exception):
    """A side that cannot be judged: not numeric, ambiguous, or too large to evaluate."""


# -- tokens ----------------------------------------------------------------------------------


@dataclass
class Tok:
    kind: str  # NUM OP LP RP EQ FRAC SQRT UNIT WORD PUNCT REL CMD
    text: str
    start: int
    end: int
    space_before: bool
    value: Fraction | None = None
    decimals: int = 0


def normalize(text: str) -> str:
    """Rewrite notation variants into one form; the claim text reported is taken from this form."""
    s = text[:MAX_TEXT]
    for a, b in _UNICODE.items():
        s = s.replace(a, b)
    s = s.replace("**", "")  # markdown bold
    s = s.replace("{,}", ",")
    s = re.sub(r"(\d)\\,(\d{3})(?!\d)", r"\1,\2", s)  # 1\,000
    s = s.replace("\\!", "")
    s = s.replace("\\$", "")
    s = re.sub(r"\$(?=[-.]?\d)", "", s)  # currency
    s = s.replace("$", " \u2016 ")  # math delimiters end a claim
    s = s.replace("\n", " \u2016 ")
    s = s.replace("<<", " \u27ea ").replace(">>", " \u27eb ")  # GSM8K calculator annotations
    s = re.sub(r"\\[()\[\]]", " \u2016 ", s)
    s = s.replace("\\%", "%").replace("\\{", "(").replace("\\}", ")")
    s = s.replace("==", "=").replace("=>", r" \implies ").replace("<=", r" \leq ").replace(">=", r" \geq ")
    s = s.replace("!=", r" \neq ")
    return s


class _Lexer:
    """One pass over a normalized step: each reader consumes from position i and returns where it stopped."""

    def __init__(self, s: str, custom_star: bool):
        self.s = s
        self.custom_star = custom_star
        self.toks: list[Tok] = []
        self.space = True

    def add(self, kind: str, text: str, start: int, end: int, **kw) -> None:
        self.toks.append(Tok(kind, text, start, end, self.space, **kw))
        self.space = False

    def number(self, i: int) -> int:
        m = NUMBER_IN_TEXT.match(self.s, i)
        assert m is not None  # a digit, or a point before a digit, always starts a number
        raw = m.group(0)
        if sum(ch.isdigit() for ch in raw) > MAX_LITERAL_DIGITS:
            self.add("BIG", raw, i, m.end())
        else:
            value, decimals, _sig = decimal_value(raw)
            self.add("NUM", raw, i, m.end(), value=value, decimals=decimals or 0)
        return m.end()

    def command(self, i: int) -> int:
        s = self.s
        m = _CMD_RE.match(s, i)
        if not m:
            if i + 1 < len(s) and s[i + 1] in ",;: ":  # "\," "\;" "\ " are spaces
                self.space = True
            else:  # "\&", "\#", "\\": never part of a number
                self.add("PUNCT", s[i : i + 2], i, i + 2)
            return i + 2
        name, end = m.group(1), m.end()
        if name in _CMD_TEXT:
            return self.text_group(name, i, end)
        if name == "ast" and self.custom_star:
            self.add("PUNCT", "*", i, end)
        elif name in _CMD_OPS:
            self.add("OP", _CMD_OPS[name], i, end)
        elif name in FRAC_COMMANDS:
            self.add("FRAC", name, i, end)
        elif name == "sqrt":
            self.add("SQRT", name, i, end)
        elif name in _CMD_REL:
            self.add("REL", name, i, end)
        elif name == "boxed":
            self.add("BOX", name, i, end)
        elif name in _CMD_SPACE:
            self.space = True
        else:
            self.add("CMD", name, i, end)
        return end

    def text_group(self, name: str, i: int, end: int) -> int:
        """\\text{12} is the number itself; \\text{ apples} is a unit."""
        group = brace_group(self.s, end)
        if group is None:
            self.add("CMD", name, i, end)
            return end
        content, after = group
        if re.fullmatch(r"\s*[\d.,]+\s*", content):
            for t in tokenize(content):
                self.add(t.kind, t.text, end + 1 + t.start, end + 1 + t.end, value=t.value, decimals=t.decimals)
        elif content.strip():
            self.add("UNIT", content.strip(), i, after)
        return after

    def word(self, i: int) -> int:
        m = _WORD_RE.match(self.s, i)
        if m:
            self.add("WORD", m.group(0), i, m.end())
            return m.end()
        self.add("WORD", self.s[i], i, i + 1)  # a letter outside ASCII
        return i + 1

    def symbol(self, i: int) -> int:
        c = self.s[i]
        if c == "*" and self.custom_star:
            self.add("PUNCT", c, i, i + 1)
        elif c in _OPS:
            self.add("OP", c, i, i + 1)
        elif c == "(" and (m := _LABEL_RE.match(self.s, i)) and _is_label(m.group(1) or m.group(2)):
            self.add("LABEL", m.group(1) or m.group(2), i, m.end())  # "7995 (total cookies) - 2595 (rainbow cookies)"
            return m.end()
        else:
            kind = {"(": "LP", "{": "LP", ")": "RP", "}": "RP", "=": "EQ", "<": "REL", ">": "REL"}.get(c, "PUNCT")
            self.add(kind, c, i, i + 1)
        return i + 1


def tokenize(s: str, custom_star: bool = False) -> list[Tok]:
    lexer = _Lexer(s, custom_star)
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            lexer.space = True
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and s[i + 1].isdigit()):
            i = lexer.number(i)
        elif c == "\\":
            i = lexer.command(i)
        elif c.isalpha():
            i = lexer.word(i)
        else:
            i = lexer.symbol(i)
    _times_x(lexer.toks)
    return lexer.toks


def _times_x(toks: list[Tok]) -> None:
    """'3 x 4' and '3x4' use x as a multiplication sign; '2x + 3' does not."""
    for k in range(1, len(toks) - 1):
        t = toks[k]
        if t.kind == "WORD" and t.text in ("x", "X"):
            prev, nxt = toks[k - 1], toks[k + 1]
            if prev.kind in ("NUM", "RP") and nxt.kind in ("NUM", "LP") and t.space_before == nxt.space_before:
                t.kind, t.text = "OP", "*"


# -- evaluation ------------------------------------------------------------------------------


def _check_size(v: Fraction) -> Fraction:
    if v.numerator.bit_length() > MAX_BITS or v.denominator.bit_length() > MAX_BITS:
        raise Refused("too large")
    return v


def _exact_root(v: Fraction, k: int) -> Fraction:
    if v < 0:
        raise Refused("root of a negative number")

    def iroot(x: int) -> int:
        r = round(x ** (1.0 / k)) if x.bit_length() < 1000 else 0
        for cand in (r - 1, r, r + 1):
            if cand >= 0 and cand**k == x:
                return cand
        raise Refused("irrational root")

    return Fraction(iroot(v.numerator), iroot(v.denominator))


class Parser:
    """Recursive descent over one side's tokens. Percent is /100 or a unit; '/' may bind the rest."""

    def __init__(self, toks: list[Tok], percent_div: bool, slash_binds_rest: bool,
                 env: dict[str, Fraction] | None = None):
        self.env = env or {}  # values of VAR tokens (algebra.py); numeric claims have none
        self.toks = toks
        self.pos = 0
        self.percent_div = percent_div
        self.slash_binds_rest = slash_binds_rest
        self.depth = 0

    def peek(self) -> Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise Refused("unexpected end")
        self.pos += 1
        return t

    def parse(self) -> Fraction:
        v = self.expr()
        if self.pos != len(self.toks):
            raise Refused(f"unexpected {self.toks[self.pos].text!r}")
        return v

    def expr(self) -> Fraction:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Refused("nested too deep")
        v = self.term()
        while (t := self.peek()) is not None and t.kind == "OP" and t.text in "+-":
            self.take()
            rhs = self.term()
            v = _check_size(v + rhs if t.text == "+" else v - rhs)
        self.depth -= 1
        return v

    def _implicit(self) -> bool:
        """'2(3+4)', '(1+2)(3)': a factor followed directly by '('; '2x', '(2/3)x', '3 x'."""
        t = self.peek()
        prev = self.toks[self.pos - 1] if self.pos else None
        if t is not None and t.kind == "VAR" and prev is not None and prev.kind in ("NUM", "RP", "VAR"):
            return True
        return (
            t is not None and t.kind == "LP" and t.text == "(" and prev is not None
            and prev.kind in ("NUM", "RP") and not t.space_before
        )

    def term(self) -> Fraction:
        v = self.unary()
        while True:
            t = self.peek()
            if t is not None and t.kind == "OP" and t.text in _MULT:
                self.take()
                if t.text == "*":
                    v = _check_size(v * self.unary())
                    continue
                denom = self.unary()
                if self.slash_binds_rest:  # a / b × c read as a / (b c)
                    while (u := self.peek()) is not None and ((u.kind == "OP" and u.text == "*") or self._implicit()):
                        if u.kind == "OP":
                            self.take()
                        denom = _check_size(denom * self.unary())
                if denom == 0:
                    raise Refused("division by zero")
                v = _check_size(v / denom)
            elif self._implicit():
                v = _check_size(v * self.unary())
            else:
                return v

    def unary(self) -> Fraction:
        t = self.peek()
        if t is not None and t.kind == "OP" and t.text in "+-":
            self.take()
            v = self.unary()
            return -v if t.text == "-" else v
        return self.power()

    def power(self) -> Fraction:
        base = self.postfix()
        t = self.peek()
        if t is not None and t.kind == "OP" and t.text == "^":
            self.take()
            nxt = self.peek()
            if nxt is None:
                raise Refused("dangling ^")
            if nxt.kind == "NUM":
                if len(nxt.text) != 1:  # 2^10: LaTeX reads 2^1 0, plain text 2^{10}: ambiguous
                    raise Refused("ambiguous exponent")
                self.take()
                assert nxt.value is not None  # NUM tokens carry their value
                exp = nxt.value
            elif nxt.kind == "LP":
                exp = self.group()
            elif nxt.kind == "OP" and nxt.text == "-":
                exp = self.unary()
            else:
                raise Refused("unsupported exponent")
            exp = self.percent(exp)
            return _pow(base, exp)
        return base

    def percent(self, v: Fraction) -> Fraction:
        while (t := self.peek()) is not None and t.kind == "OP" and t.text == "%":
            self.take()
            if self.percent_div:
                v = percent(v)
        return v

    def postfix(self) -> Fraction:
        return self.percent(self.primary())

    def group(self) -> Fraction:
        open_ = self.take()
        if open_.kind != "LP":
            raise Refused("expected a group")
        v = self.expr()
        close = self.take()
        if close.kind != "RP" or (open_.text == "(") != (close.text == ")"):
            raise Refused("unbalanced brackets")
        return v

    def primary(self) -> Fraction:
        t = self.peek()
        if t is None:
            raise Refused("unexpected end")
        if t.kind == "NUM":
            self.take()
            assert t.value is not None  # NUM tokens carry their value
            return t.value
        if t.kind == "LP":
            return self.group()
        if t.kind == "VAR":
            self.take()
            nxt = self.peek()
            if t.text not in self.env or (nxt is not None and nxt.kind in ("LP", "NUM")):
                raise Refused("unknown name or function application")  # f(3), x2
            return self.env[t.text]
        if t.kind == "FRAC":
            self.take()
            if (nxt := self.peek()) is None or nxt.kind != "LP":
                raise Refused("\\frac without braces")
            num = self.group()
            if (nxt := self.peek()) is None or nxt.kind != "LP":
                raise Refused("\\frac without braces")
            den = self.group()
            if den == 0:
                raise Refused("division by zero")
            return _check_size(num / den)
        if t.kind == "SQRT":
            self.take()
            if (nxt := self.peek()) is None or nxt.kind != "LP":
                raise Refused("\\sqrt without braces")
            return _exact_root(self.group(), 2)
        raise Refused(f"not numeric: {t.text!r}")


def _pow(base: Fraction, exp: Fraction) -> Fraction:
    if exp.denominator != 1:
        raise Refused("fractional exponent")
    e = exp.numerator
    if abs(e) > MAX_EXPONENT:
        raise Refused("exponent too large")
    bits = max(base.numerator.bit_length(), base.denominator.bit_length())
    if bits * abs(e) > MAX_BITS:
        raise Refused("power too large")
    if base == 0 and e < 0:
        raise Refused("division by zero")
    return base**e


def eq_segments(toks: list[Tok], kinds: set[str] | frozenset[str]) -> Iterator[tuple[int, int]]:
    """Maximal runs [i, j) of tokens whose kinds are in `kinds` that contain an '='."""
    i, n = 0, len(toks)
    while i < n:
        if toks[i].kind not in kinds:
            i += 1
            continue
        j = i
        while j < n and toks[j].kind in kinds:
            j += 1
        if any(t.kind == "EQ" for t in toks[i:j]):
            yield i, j
        i = j


def split_at_eq(seg: list[Tok]) -> list[list[Tok]]:
    """The sides of a chain 'a = b = c' (a side may be empty)."""
    sides: list[list[Tok]] = [[]]
    for t in seg:
        if t.kind == "EQ":
            sides.append([])
        else:
            sides[-1].append(t)
    return sides
