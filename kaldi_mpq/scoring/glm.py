"""NIST Global Mapping Files (GLM) and their application to text, as SCTK's ``csrfilt.sh``.

A GLM holds header lines, comments and rules::

    * copy_no_hit = 'T'
    * case_sensitive = 'F'
    ;; INPUT_DEPENDENT_APPLICATION = "ctm"     (rules below apply only to that input type/purpose)
    'CAUSE             => BECAUSE ;; per AHD
    UH      =>  %HESITATION     / [ ] __ [ ]
    [HE'S] => [{HE IS / HE HAS}] / [ ] __ [ ]

``LHS => RHS / left __ right``: strings in ``[...]`` are literal with their spaces (``[ ]`` is one
space, i.e. a word boundary); unbracketed strings are trimmed. Matching is on the text
``" W1 W2 ... "`` (upper-cased unless case-sensitive), scanning left to right: at each character
position the first rule in file order whose LHS matches there and whose contexts match the *input*
text around it is applied, and scanning resumes after the LHS, so replacements are never rewritten
again (behaviour checked against ``rfilter1`` in ``tests/scoring/test_glm.py``). A RHS may hold an
alternation ``{HE IS / HE HAS}``; in an STM it stays there, in a CTM it becomes sclite's
``<ALT_BEGIN>`` ... ``<ALT_END>`` lines (here: :class:`Alternation`).

Around the rules, as ``csrfilt.sh``: text is upper-cased (a-z only), ``(UH)`` optional-deletion marks
are kept, ``-dh`` turns inner hyphens into spaces, and ``(A B)`` becomes ``(A) (B)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike


@dataclass(frozen=True)
class GlmRule:
    lhs: str
    rhs: str
    left: str
    right: str
    line: int


@dataclass
class Glm:
    """Parsed rules, grouped by the input types/purposes they apply to.

    Attributes:
        rules: ``(applies_to, rule)`` in file order; ``applies_to`` is None for rules before any
            ``INPUT_DEPENDENT_APPLICATION`` line, else that line's pattern (lower case).
        header: ``* key = 'value'`` settings.
    """

    rules: list[tuple[Optional[str], GlmRule]]
    header: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def case_sensitive(self) -> bool:
        return self.header.get("case_sensitive", "F").upper().startswith("T")

    def mapper(self, input_type: str = "txt", purpose: str = "") -> "GlmMapper":
        """The rules that ``csrfilt.sh -i input_type -t purpose`` would apply."""
        keep = [r for where, r in self.rules
                if where is None or re.search(where, input_type) or (purpose and re.search(where, purpose))]
        return GlmMapper(keep, self.case_sensitive)


def _literal(s: str) -> str:
    s = s.strip()
    m = re.fullmatch(r"\[(.*)\]", s, re.S)
    return m.group(1) if m else s


def _split_context(rhs_part: str) -> tuple[str, Optional[str]]:
    """``RHS / ctx`` -> (RHS, ctx): the last ``/`` outside brackets and braces."""
    depth = 0
    cut = None
    for i, ch in enumerate(rhs_part):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "/" and depth == 0:
            cut = i
    return (rhs_part, None) if cut is None else (rhs_part[:cut], rhs_part[cut + 1:])


def read_glm(path: Pathlike) -> Glm:
    """Read a GLM (UTF-8, else ISO-8859-1; LF or CRLF).

    Raises:
        ScoringError: a rule line without ``=>`` or with a context lacking ``__`` (file and line named).
    """
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    glm = Glm([], source=str(path))
    where: Optional[str] = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        m = re.match(r'^;;\s+INPUT_DEPENDENT_APPLICATION\s*=\s*"([^"]*)"', line)
        if m:
            where = m.group(1).lower()
            continue
        if line.startswith("*"):
            h = re.match(r"^\*\s*(\w+)\s*=?\s*['\"]?(.*?)['\"]?\s*$", line)
            if h:
                glm.header[h.group(1).lower()] = h.group(2)
            continue
        body = line.split(";;", 1)[0]
        if not body.strip():
            continue
        if "=>" not in body:
            raise ScoringError(f"{path}:{lineno}: not a GLM rule (no '=>'): {line.strip()!r}")
        lhs, rest = body.split("=>", 1)
        rhs, ctx = _split_context(rest)
        left = right = ""
        if ctx is not None:
            if "__" not in ctx:
                raise ScoringError(f"{path}:{lineno}: context {ctx.strip()!r} lacks '__'")
            left, right = (_literal(x) for x in ctx.split("__", 1))
        glm.rules.append((where, GlmRule(_literal(lhs), _literal(rhs), left, right, lineno)))
    return glm


class GlmMapper:
    """Applies a rule list to text (``rfilter1``), indexed by the first characters of each LHS."""

    def __init__(self, rules: Sequence[GlmRule], case_sensitive: bool = False):
        self.case_sensitive = case_sensitive
        norm = (lambda s: s) if case_sensitive else str.upper
        self.rules = [GlmRule(norm(r.lhs), r.rhs, norm(r.left), norm(r.right), r.line) for r in rules if r.lhs]
        by_two: dict[str, list[int]] = {}
        by_one: dict[str, list[int]] = {}
        for i, r in enumerate(self.rules):
            (by_one if len(r.lhs) == 1 else by_two).setdefault(r.lhs[:1 if len(r.lhs) == 1 else 2], []).append(i)
        self._by_one, self._by_two = by_one, by_two
        self._cache: dict[str, list[GlmRule]] = {}

    def _candidates(self, two: str) -> list[GlmRule]:
        got = self._cache.get(two)
        if got is None:
            idx = sorted(self._by_one.get(two[:1], []) + self._by_two.get(two, []))
            got = self._cache[two] = [self.rules[i] for i in idx]
        return got

    def apply_string(self, text: str) -> str:
        """One ``rfilter1`` pass over a line (callers add the surrounding spaces)."""
        key = text if self.case_sensitive else text.upper()
        out = []
        i = 0
        n = len(key)
        while i < n:
            for r in self._candidates(key[i:i + 2]):
                if (key.startswith(r.lhs, i) and key.endswith(r.left, 0, i)
                        and key.startswith(r.right, i + len(r.lhs))):
                    out.append(r.rhs)
                    i += len(r.lhs)
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


def _upcase(s: str) -> str:
    return s.translate(_UPPER)


_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _propagate_optdel(s: str) -> str:
    pat = re.compile(r"(\(\s+[^()\s]+\s+)([^()\s]+)")
    while True:
        new = pat.sub(lambda m: m.group(1) + ") ( " + m.group(2), s, count=1)
        if new == s:
            return s
        s = new


def filter_text(mapper: GlmMapper, text: str, upcase: bool = True, split_hyphens: bool = False) -> str:
    """``csrfilt.sh [-s] [-dh]`` on the text of one line (STM text field, CTM word, or txt line)."""
    s = " " + re.sub(r"[ \t]+", " ", text.strip()) + " "
    if upcase:
        s = _upcase(s)
    s = " " + s.replace("(", "( ").replace(")", " )") + " "
    s = mapper.apply_string(s)
    if split_hyphens:
        s = re.sub(r"([^( ])-(?=[^) ])", r"\1 ", s)
    s = _propagate_optdel(s)
    s = re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", s.strip()))
    return re.sub(r"[ \t]+", " ", s)


@dataclass(frozen=True)
class Alternation:
    """Alternative word sequences at one place (``{A / B C / @}``; ``@`` is the empty sequence)."""

    options: tuple[tuple[str, ...], ...]


Token = Union[str, Alternation]


def parse_alternations(text: str, where: str = "<text>") -> list[Token]:
    """Words and ``{ ... / ... }`` groups of a filtered text (braces may touch the words).

    Raises:
        ScoringError: unbalanced braces (``where`` names the line).
    """
    toks = re.sub(r"([{}/])", r" \1 ", text).split()
    out: list[Token] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t == "{":
            j = toks.index("}", i) if "}" in toks[i:] else -1
            if j < 0:
                raise ScoringError(f"{where}: '{{' without '}}' in {text!r}")
            opts, cur = [], []
            for w in toks[i + 1:j] + ["/"]:
                if w == "/":
                    opts.append(tuple(x for x in cur if x != "@"))
                    cur = []
                else:
                    cur.append(w)
            out.append(Alternation(tuple(opts)))
            i = j + 1
        elif t in "}/":
            raise ScoringError(f"{where}: stray {t!r} in {text!r}")
        else:
            out.append(t)
            i += 1
    return out
