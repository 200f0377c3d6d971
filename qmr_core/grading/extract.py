"""Final-answer extraction from model output (pure string work, no parsing).

Order for MATH-style benchmarks: last ``\\boxed{}``/``\\fbox{}`` (``\\boxed 5`` too),
then "Final Answer: ..." / "The final answer is ...", then "the answer is ...",
then the last number in the text that is not a step label or list number
(``Step 3:``, ``3.``, ``(3)``, ``3)`` at a line start; a bare ``3.`` line only where it continues
a list).  For ``gsm8k``: ``#### N`` first,
then the same chain.  Every pattern here is linear-time (no nested or adjacent unbounded
repeats over the same characters; trailing junk is stripped by a loop, not a ``...+$``
pattern): outputs are capped at ``MAX_OUTPUT_CHARS`` but can be long, e.g. a 3-bit model's
whitespace or repetition loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .exact_numbers import brace_pairs

MAX_OUTPUT_CHARS = 400_000  # longer outputs are rejected (method "none")
MAX_ANSWER_CHARS = 2_000  # longer extracted answers are rejected

METHODS = ("boxed", "fbox", "boxed_space", "answer_is", "final_answer", "gsm8k_hash", "last_number", "none")
# Paths that find an answer the output states; any other answer of a truncated output is a guess.
EXPLICIT_METHODS = frozenset({"boxed", "fbox", "boxed_space", "answer_is", "final_answer", "gsm8k_hash"})


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    method: str


_NONE = Extraction(None, "none")

_BOX_CMD = re.compile(r"\\(boxed|fbox)")

_NUMBER = re.compile(r"(?<![\w.,])(-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+)?)")
_GSM_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+)?")
_SIMPLE_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")

_FINAL_ANSWER = re.compile(
    r"final\s+answer(?:\s|\*\*)*(?:is\b|:)[\s*:]*"
    r"|^[#* \t]*final[ \t]+answer[ \t*#:]*$\n?",
    re.IGNORECASE | re.MULTILINE,
)
_ANSWER_IS = re.compile(
    r"(?:\banswer\s*(?:is|will\s+be|would\s+be|=)|\banswer\s*:|\bAnswer\s*-)\s*:?\s*\**\s*",
    re.IGNORECASE,
)
_HASH = re.compile(r"####\s*")
_HOPE = re.compile(r"I hope it is correct", re.IGNORECASE)
# Step labels and list numbers: never answer candidates.  Group 1 is the label's number.
_LABEL = re.compile(
    r"^[ \t>*#]*(?:step[ \t]*(\d+)|\([ \t]*(\d+)[ \t]*\)|(\d+)[.)](?!\d))|\bstep[ \t]+(\d+)[ \t]*[:.)]",
    re.IGNORECASE | re.MULTILINE,
)
_JUNK_CHARS = frozenset(" \t\n\r\f\v.;,")
_JUNK_PAIRS = frozenset({"**", "\\]", "\\)", "\\,", "\\;", "\\:", "\\!", "\\ "})


def _strip_trailing_junk(ans: str, math: bool) -> str:
    """Drop trailing punctuation, TeX spacing, ``**`` and closing ``\\]``/``\\)`` (a loop: linear time).

    A trailing ``!`` is sentence punctuation in prose but a factorial in math (``\\boxed{5!}``).
    """
    end = len(ans)
    while end > 0:
        if end >= 2 and ans[end - 2 : end] in _JUNK_PAIRS:
            end -= 2
        elif ans[end - 1] in _JUNK_CHARS or ans[end - 1].isspace() or (ans[end - 1] == "!" and not math):
            end -= 1
        else:
            break
    return ans[:end]


def _boxes(text: str) -> list[tuple[int, int, str, str]]:
    """All complete boxes as (start, end, content, method), in order of appearance."""
    found: list[tuple[int, int, str, str]] = []
    matches: dict[int, int] | None = None
    pos = 0
    while True:
        m = _BOX_CMD.search(text, pos)
        if m is None:
            break
        cmd = m.group(1)
        j = m.end()
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            if matches is None:
                matches = brace_pairs(text)
            close = matches.get(j, -1)
            if close < 0:
                pos = m.end()
                continue
            found.append((m.start(), close + 1, text[j + 1 : close], cmd))
            pos = close + 1
        elif j > m.end() and j < len(text) and cmd == "boxed":
            # "\boxed 5": the argument is the next token.
            tok = re.match(r"[^\s$\\]+|\\[a-zA-Z]+", text[j : j + 200])
            if tok:
                found.append((m.start(), j + tok.end(), tok.group(0), "boxed_space"))
                pos = j + tok.end()
            else:
                pos = m.end()
        else:
            pos = m.end()
    return found


# Text that may stand between the boxes of one answer: "\\boxed{1}, \\boxed{2} \\text{ and } \\boxed{3}".
# A run joined by "or" ("\\boxed{3} or \\boxed{4}") is a hedge: it is read as "3 or 4", which
# equals a single gold only if every alternative does ("\\boxed{x+11} or \\boxed{11+x}").
_BOX_GAP = re.compile(r"(?:\s|[,;$]|\\[()\[\]]|\\q?quad\b|\\[,;: ]|\\text\{\s*(?:and|or)?\s*\}|\band\b|\bor\b)*")
_OR_GAP = re.compile(r"\bor\b")
_MAX_BOX_GAP = 40


def _box_run(text: str) -> tuple[list[str], str, bool] | None:
    """The contents of the last run of boxes (distinct, in order), its method, and whether an
    "or" joins them; None without a box."""
    boxes = _boxes(text)
    if not boxes:
        return None
    first = len(boxes) - 1
    hedged = False
    while first > 0:
        gap = text[boxes[first - 1][1] : boxes[first][0]]
        if len(gap) > _MAX_BOX_GAP or "\n\n" in gap or not _BOX_GAP.fullmatch(gap):
            break
        hedged = hedged or _OR_GAP.search(gap) is not None
        first -= 1
    contents = list(dict.fromkeys(b[2].strip() for b in boxes[first:]))
    return contents, boxes[-1][3], hedged and len(contents) > 1


def _last_box(text: str) -> Extraction | None:
    """The last box; a run of boxes joined only by commas, "and", "or", spacing or math delimiters
    is one list answer (``\\boxed{1}, \\boxed{2}`` is "1, 2"), the same box repeated counts once."""
    run = _box_run(text)
    if run is None:
        return None
    contents, method, hedged = run
    return Extraction((" or " if hedged else ", ").join(contents), method)


def _inline_math_or_clause(span: str) -> tuple[str, bool]:
    """The answer at the start of span and whether it is math: ``$...$`` / ``\\(...\\)``, else up
    to sentence end."""
    span = span.lstrip()
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if span.startswith(open_):
            end = span.find(close, len(open_))
            if end > 0:
                return span[len(open_) : end], True
    line = span.split("\n", 1)[0]
    # Sentence end: a period followed by space/end that is not a decimal point.
    m = re.search(r"\.(?=\s|$)(?<!\d\.)|\.(?=\s)", line)
    if m:
        line = line[: m.start()]
    return line, False


def _clean(ans: str, math: bool = True) -> str:
    hope = _HOPE.search(ans)
    if hope is not None:
        ans = ans[: hope.start()].rstrip().removesuffix(".")
    ans = ans.strip()
    if ans.startswith("\\boxed") or ans.startswith("\\fbox"):
        box = _last_box(ans)
        if box is not None:
            ans = box.answer or ""
            math = True
    ans = ans.replace("**", "").strip()
    if ans.startswith("$") and ans.endswith("$") and len(ans) > 1:
        ans = ans.strip("$")
        math = True
    return _strip_trailing_junk(ans, math).strip()


def _gsm8k_number(span: str) -> str | None:
    """The numeric answer in an answer clause: after the last '=' if any, first number."""
    span = span.replace("\\$", "$").replace("\\!", "")
    if "=" in span:
        span = span.rsplit("=", 1)[1]
    m = _GSM_NUMBER.search(span)
    if not m:
        return None
    return _plain_number(m.group(0))


def _plain_number(tok: str) -> str:
    tok = tok.replace(",", "")
    if "." in tok and "/" not in tok:
        whole, frac = tok.split(".", 1)
        frac = frac.rstrip("0")
        tok = whole if not frac else f"{whole}.{frac}"
        if tok in ("", "-"):
            tok = "0"
    return tok


_LINE_END = re.compile(r"[ \t]*(?:\n|$)")


def _label_starts(text: str) -> set[int]:
    """Where the step labels' and list numbers' digits start.  A bare ``N.`` / ``(N)`` / ``N)`` line
    (nothing after it) is list numbering only where it continues a list (the label before it is N-1);
    otherwise it is a number on a line of its own: ``... = \n42.`` ends with the answer 42."""
    starts: set[int] = set()
    prev: str | None = None
    for m in _LABEL.finditer(text):
        i = next(g for g in range(1, 5) if m.group(g) is not None)
        num = m.group(i)
        if i in (2, 3) and _LINE_END.match(text, m.end()) is not None:
            if prev is None or len(num) > 18 or len(prev) > 18 or int(num) != int(prev) + 1:
                continue
        starts.add(m.start(i))
        prev = num
    return starts


def _last_number(text: str) -> Extraction | None:
    labels = _label_starts(text)
    last = None
    for m in _NUMBER.finditer(text):
        if m.start(1) not in labels:
            last = m
    if last is None:
        return None
    return Extraction(_plain_number(last.group(1)), "last_number")


def _answer_sentence(text: str, pattern: re.Pattern[str], method: str, gsm8k: bool) -> Extraction | None:
    last = None
    for m in pattern.finditer(text):
        last = m
    if last is None:
        return None
    clause, math = _inline_math_or_clause(text[last.end() :].lstrip("} \t"))
    if gsm8k:
        num = _gsm8k_number(clause)
        return Extraction(num, method) if num is not None else None
    ans = _clean(clause if math else _sentence_value(clause), math)
    if not ans:
        return None
    return Extraction(ans, method)


_PROSE = re.compile(r"[a-zA-Z]{3}\s+[a-zA-Z]")
_COPULA = re.compile(r"\b(?:is|are|equals|was|be)\b|=")
# "Since 2+5=7, the answer is 7": a leading reason clause; "2 since/because/, which/ -- ...": a trailing one.
_LEAD_REASON = re.compile(r"\s*(?:since|because|as|given)\b[^,]{0,200},", re.IGNORECASE)
_TAIL_REASON = re.compile(
    r"\s(?:since|because|which|where|whereas|while|given|due\s+to)\b|,\s*(?:as|so|i\.e\.|that\s+is)\b"
    r"|\s(?:--|\u2014|\u2013)|(?<!\s):\s|\s\(",  # "5 -- the total is 6", "5: the total ...", "5 (the total ...)"
    re.IGNORECASE,
)
# A conditional sentence states no single value ("5 if x is 3"); nor does a hedged or negated value
# ("is at least 5", "more than 5 apples", "did not buy 5").
_CONDITIONAL = re.compile(r"\b(?:if|when|whenever|unless|otherwise|provided|assuming)\b", re.IGNORECASE)
_HEDGED = re.compile(
    r"\b(?:not|no|never|more|less|fewer|greater|least|most|about|around|approximately|roughly|nearly"
    r"|almost|over|under|between|above|below|than|up\s+to|within)\b|n't\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(r",|;|\s(?:and|but|or)\s", re.IGNORECASE)
_HAS_VALUE = re.compile(r"[\d$\\]")
_DIGIT = re.compile(r"\d")
# "approximately 0.33": the value, which the exactness policy accepts only where rounding is asked for.
_APPROX_WORD = re.compile(r"\s*(?:approximately|about|roughly|around|approx\.)\s+(?=[-\d$\\])", re.IGNORECASE)


def _without_approx(value: str) -> str:
    m = _APPROX_WORD.match(value)
    return value[m.end() :] if m else value


def _main_clause(clause: str) -> str:
    """The clause without a leading or trailing reason: "9, since 4+5 = 9" -> "9"; a reason word
    after no value is part of the subject ("the number of days since Monday is 3")."""
    lead = _LEAD_REASON.match(clause)
    if lead is not None:
        clause = clause[lead.end() :]
    tail = _TAIL_REASON.search(clause)
    if tail is not None and _HAS_VALUE.search(clause, 0, tail.start()):
        clause = clause[: tail.start()]
    return clause


def _sentence_value(clause: str) -> str:
    """The value a prose answer sentence states: "The volume of $V$ is 120" -> "120" (after its last
    "is"/"equals"/"=", when no "and"/","/"but" separates it from the first: "x is 9 and y = 5" is two
    statements), "Jane started 3 hours ago" -> "3" (its only number); reasons are dropped ("2 since
    the number of boys is 6" -> "2"); a conditional sentence or a hedged value ("5 if x is 3", "more
    than 5") and any other text stay as written, so they match no plain value."""
    main = _without_approx(_main_clause(clause))
    if not _PROSE.search(main):
        return main if main is not clause else clause
    if _CONDITIONAL.search(main):
        return clause
    copulas = list(_COPULA.finditer(main))
    if copulas and main[copulas[-1].end() :].strip():
        value = _without_approx(main[copulas[-1].end() :])
        hedged = _HEDGED.search(value) is not None and _DIGIT.search(value) is not None  # not "no solution"
        if _CLAUSE_BREAK.search(main, copulas[0].end(), copulas[-1].start()) or hedged:
            return clause
        return value
    numbers = [m.group(1) for m in _NUMBER.finditer(main)]
    return _plain_number(numbers[0]) if len(numbers) == 1 and not _HEDGED.search(main) else clause


def _boxed_answer(text: str, gsm8k: bool) -> Extraction | None:
    run = _box_run(text)
    if run is None:
        return None
    contents, method, hedged = run
    ans = _clean((" or " if hedged else ", ").join(contents))
    if ans and re.search(r"[a-zA-Z]{3}\s+[a-zA-Z]", ans):
        # Prose inside the box: "\boxed{The answer is 5}".
        for pat in (_FINAL_ANSWER, _ANSWER_IS):
            inner = _answer_sentence(ans, pat, method, gsm8k)
            if inner is not None and inner.answer:
                ans = inner.answer
                break
    if gsm8k and ans and len(contents) == 1:  # a run "\boxed{16}, \boxed{18}" stays a list, not 16
        bare = ans.replace("\\$", "").replace("$", "").replace("\\!", "").strip()
        if _SIMPLE_NUMBER.fullmatch(bare):
            ans = _plain_number(bare)
        elif not re.search(r"\\frac|/|\\sqrt|\^", ans):
            ans = _gsm8k_number(ans) or ans
    return Extraction(ans, method) if ans else None


def extract(text: str, benchmark: str = "math") -> Extraction:
    """Extract the final answer of ``text`` and record which path found it."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_OUTPUT_CHARS:
        return _NONE
    gsm8k = benchmark == "gsm8k"
    result: Extraction | None = None
    if gsm8k:
        hashes = list(_HASH.finditer(text))
        if hashes:
            num = _gsm8k_number(text[hashes[-1].end() :].split("\n", 1)[0])
            if num is not None:
                result = Extraction(num, "gsm8k_hash")
    if result is None:
        result = _boxed_answer(text, gsm8k)
    if result is None:
        result = _answer_sentence(text, _FINAL_ANSWER, "final_answer", gsm8k)
    if result is None:
        result = _answer_sentence(text, _ANSWER_IS, "answer_is", gsm8k)
    if result is None:
        result = _last_number(text)
    if result is None or result.answer is None or len(result.answer) > MAX_ANSWER_CHARS:
        return _NONE
    return result


def extract_answer(text: str, benchmark: str = "math") -> str | None:
    return extract(text, benchmark).answer


def gold_answer(gold: str, benchmark: str = "math") -> str:
    """The answer part of a gold field: after ``####`` (GSM8K) or inside a last box."""
    if not isinstance(gold, str):
        return ""
    if "####" in gold:
        return gold.rsplit("####", 1)[1].strip()
    if "\\boxed" in gold or "\\fbox" in gold:
        box = _last_box(gold)
        if box is not None and box.answer:
            return box.answer.strip()
    return gold.strip()
