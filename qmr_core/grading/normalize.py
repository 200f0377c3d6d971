"""String-level LaTeX normalization of an extracted answer (no parsing, no sympy).

``clean`` rewrites presentation-only LaTeX (``\\dfrac``, ``\\left``, spacing, unicode),
``strip_markers`` removes and records what the policy treats specially at the end of
an answer (percent, degrees, units, currency) and ``canonical`` gives the whitespace-free
form used for the exact-normalized comparison.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .exact_numbers import brace_pairs

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "\\times ", "\u00b7": "\\cdot ",
    "\u22c5": "\\cdot ", "\u00f7": "\\div ", "\u03c0": "\\pi ", "\u221a": "\\sqrt", "\u221e": "\\infty ",
    "\u00b0": "^\\circ", "\u2264": "\\leq ", "\u2265": "\\geq ", "\u2260": "\\neq ", "\u222a": "\\cup ",
    "\u2229": "\\cap ", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "", "\u2032": "'",
    "\u00bd": "\\frac{1}{2}", "\u00bc": "\\frac{1}{4}", "\u00be": "\\frac{3}{4}",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

_SUBS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\\(?:d|t|c)frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\(?:d|t)binom(?![a-zA-Z])"), r"\\binom"),
    (re.compile(r"\\displaystyle(?![a-zA-Z])|\\limits(?![a-zA-Z])"), ""),
    (re.compile(r"\\left\.|\\right\."), ""),
    (re.compile(r"\\(?:left|right|[bB]igg?[lr]?|middle)(?![a-zA-Z])"), ""),
    (re.compile(r"\\(?:text(?:bf|it|rm|normal|up|sf)|mathrm|mbox|hbox)(?![a-zA-Z])"), r"\\text"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))"), ","),  # 111, \! 111
    (re.compile(r"(?<=\d)\\[,!]\s*(?=\d{3}(?!\d))"), ""),  # 10\,000
    (re.compile(r"(?<!\\)\\!\s*"), ""),
    (re.compile(r"(?<!\\)\\(?:[,;:> ]|q?quad(?![a-zA-Z])|(?:en|thin|med|thick)space(?![a-zA-Z]))|~"), " "),
    (re.compile(r"\\le(?:q|qslant|slant)?(?![a-zA-Z])"), r"\\leq "),
    (re.compile(r"\\ge(?:q|qslant|slant)?(?![a-zA-Z])"), r"\\geq "),
    (re.compile(r"\\(?:ne|neq)(?![a-zA-Z])"), r"\\neq "),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
    (re.compile(r"<=|=<"), r"\\leq "),
    (re.compile(r">=|=>"), r"\\geq "),
    (re.compile(r"!="), r"\\neq "),
    (re.compile(r"\\infinity|\\inf(?![a-zA-Z])|\\infty(?![a-zA-Z])"), r"\\infty "),
    (re.compile(r"\\lbrace(?![a-zA-Z])"), r"\\{"),
    (re.compile(r"\\rbrace(?![a-zA-Z])"), r"\\}"),
    (re.compile(r"\\lbrack(?![a-zA-Z])"), "["),
    (re.compile(r"\\rbrack(?![a-zA-Z])"), "]"),
    (re.compile(r"\\(?:dots|ldots|cdots)(?![a-zA-Z])"), ""),
    # TeX argument shorthand: \frac12, \frac\pi2, \frac{270}7, \frac 5{9}, \sqrt3
    (re.compile(r"\\frac\s*(\d|[a-zA-Z]|\\[a-zA-Z]+)\s*(\d|[a-zA-Z]|\\[a-zA-Z]+)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d|[a-zA-Z]|\\[a-zA-Z]+)"), r"\\frac\1{\2}"),
    (re.compile(r"\\frac\s*(\d|[a-zA-Z]|\\[a-zA-Z]+)\s*\{"), r"\\frac{\1}{"),
    (re.compile(r"\\sqrt\s*(\d|[a-zA-Z]|\\[a-zA-Z]+)"), r"\\sqrt{\1}"),
]
_WS = re.compile(r"\s+")
_DOLLARS = re.compile(r"\\\$|\$")
_DELIMS = re.compile(r"^\\[(\[]\s*|\s*\\[)\]]$")
_TRAIL = re.compile(r"(?:\s|\.(?!\d)|,|;|\\\\)+$")


def clean(s: str) -> str:
    """Presentation-only rewrites; the result still is LaTeX with the same meaning."""
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)
    s = _DELIMS.sub("", s.strip())
    s = _DOLLARS.sub(" ", s)
    for pat, rep in _SUBS:
        s = pat.sub(rep, s)
    s = _WS.sub(" ", s).strip()
    s = _TRAIL.sub("", s)
    return _strip_outer_braces(s)


def _strip_outer_braces(s: str) -> str:
    """Remove braces that enclose the whole string, layer by layer (one pass over s)."""
    if len(s) < 2 or s[0] != "{" or s[-1] != "}":
        return s
    match = brace_pairs(s)
    lo, hi = 0, len(s)  # s[lo:hi] is what is left
    while hi - lo >= 2 and s[lo] == "{" and s[hi - 1] == "}" and match.get(lo) == hi - 1:
        lo, hi = lo + 1, hi - 1
        while lo < hi and s[lo].isspace():
            lo += 1
        while hi > lo and s[hi - 1].isspace():
            hi -= 1
    return s[lo:hi]


@dataclass(frozen=True)
class Marked:
    text: str
    percent: bool = False
    degrees: bool = False


_PERCENT = re.compile(r"\s*(?:\\%|%|\\text\{\s*(?:percent|pct)\s*\}|\bpercent\b|\bpct\b)\s*$", re.IGNORECASE)
_DEGREES = re.compile(
    r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\^\s*\{\s*o\s*\}|"
    r"\\text\{\s*(?:degrees?|deg)\s*\}|\bdegrees?\b)\s*(?:\\text\{\s*[CF]\s*\}|[CF]\b)?\s*$"
)
_TEXT_UNIT = re.compile(r"\s*\\text\s*\{\s*([a-zA-Z][a-zA-Z .\-/]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$")
_WORD_UNIT = re.compile(r"\s+([a-zA-Z][a-zA-Z]+(?:\s+[a-zA-Z]+){0,2})\s*(?:\^\s*\{?\s*[23]\s*\}?)?\.?\s*$")
_SHORT_UNITS = frozenset(
    "cm mm km kg mg ft in yd mi hr ml oz lb sq cc mph kmh hrs lbs sec min yr yrs mins cms kms".split()
)
_MERIDIEM = re.compile(r"\s*[ap]\.?\s*m\.?\s*$", re.IGNORECASE)  # "4:30 \\text{ p.m.}": a.m./p.m. is no unit
_CONNECTIVE_END = re.compile(r"(?:\bor|\band|\\text\{\s*(?:or|and)\s*\})$")  # "yes or \\text{no}": no unit
_NUMERIC_HEAD = re.compile(r"^[-+\d.,/\s{}()^*]*$")


def _head_is_numeric(head: str) -> bool:
    """True if head has no letters outside LaTeX commands (a number or numeric expression)."""
    return bool(head) and not re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", head))


def strip_markers(s: str) -> Marked:
    """Remove trailing percent / degree signs, text units and unit words; record the first two."""
    percent = degrees = False
    for _ in range(4):
        before = s
        m = _PERCENT.search(s)
        if m and m.start() > 0:
            s, percent = s[: m.start()].rstrip(), True
        m = _DEGREES.search(s)
        if m and m.start() > 0:
            s, degrees = s[: m.start()].rstrip(), True
        m = _TEXT_UNIT.search(s)
        unit = m.group(1) if m else ""
        if m and m.start() > 0 and s[: m.start()].strip() and not _is_connective(unit) and not _MERIDIEM.match(unit):
            head = s[: m.start()].rstrip()
            if not head.endswith(("=", "+", "-", "\\cdot", "\\times", "(", ",")) and not _CONNECTIVE_END.search(head):
                s = head
        m = _WORD_UNIT.search(s)
        if m and _head_is_numeric(s[: m.start()]):
            words = m.group(1).split()
            if all(len(w) >= 3 or w.lower() in _SHORT_UNITS for w in words) and not _is_connective(m.group(1)):
                s = s[: m.start()].rstrip()
        if s == before:
            break
    return Marked(s.strip(), percent, degrees)


def _is_connective(words: str) -> bool:
    return words.strip().lower() in {"and", "or", "i", "e", "pi"}


_CANON: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"\\frac(\d)(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\{([^{}]*)\}(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac(\d)\{"), r"\\frac{\1}{"),
    (re.compile(r"\\sqrt(\d|[a-zA-Z](?![a-zA-Z]))"), r"\\sqrt{\1}"),
    (re.compile(r"([_^])\{(\w)\}"), r"\1\2"),
    (re.compile(r"\\text\{([^{}]*)\}"), lambda m: "\\text{" + m.group(1).strip() + "}"),
    (re.compile(r"\+\\infty"), r"\\infty"),
    (re.compile(r"\\cdot|\\times"), r"\\cdot"),
]


def canonical(s: str) -> str:
    """Whitespace-free canonical string; two answers with equal canonical forms are equal."""
    for pat, rep in _CANON:
        s = pat.sub(rep, s)
    s = s.replace(" ", "")
    s = _strip_outer_braces(s)
    if s.startswith("+") and len(s) > 1:
        s = s[1:]
    return s
