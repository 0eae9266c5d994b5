"""Kaldi transcript archives: ``data/<set>/text``, ``scoring/K.tra``, ``penalty_P/LMWT.txt``.

Text form, one utterance per line, key then words (a key alone is an empty transcript)::

    weather001_002 ANG NAG PAPAULAN SA MALAKING BAHAGI
    weather001_003 BASE SA PINAKAHULING WEATHER BULLETIN

Integer form (``lattice-best-path`` output, ``.tra``) has words.txt ids instead of words::

    weather001_002 57 1110 1580 953 111
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from kaldi_mpq.errors import ScoringError
from kaldi_mpq.fileio import Pathlike, atomic_write, is_gzip
from kaldi_mpq.text.symbols import SymbolTable


@dataclass
class Transcripts:
    """Utterance key -> words, in file order.

    Attributes:
        words: ``{utt: [word, ...]}``.
        source: file it was read from (for messages).
        line_of: ``{utt: 1-based line}`` where read from a file.
    """

    words: dict[str, list[str]]
    source: str = "<memory>"
    line_of: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, key: str) -> bool:
        return key in self.words

    def keys(self) -> list[str]:
        return list(self.words)

    def num_words(self) -> int:
        return sum(len(w) for w in self.words.values())

    def where(self, key: str) -> str:
        """``file:line`` of an utterance, for messages."""
        line = self.line_of.get(key)
        return f"{self.source}:{line}" if line else self.source


def rspecifier_path(spec: str) -> str:
    """The file of a Kaldi rspecifier: ``ark:f``, ``ark,p:f``, ``ark,t:-`` -> ``f`` / ``-``.

    Raises:
        ScoringError: an ``scp:`` or piped (``cmd |``) specifier, which only Kaldi's readers handle.
    """
    if ":" in spec and spec.split(":", 1)[0].replace(",", "").isalpha():
        kind, path = spec.split(":", 1)
        opts = kind.split(",")
        if opts[0] != "ark":
            raise ScoringError(f"{spec}: only ark: transcripts are supported (got {opts[0]}:)")
        spec = path
    if spec.rstrip().endswith("|"):
        raise ScoringError(f"{spec}: piped rspecifiers are not supported; give a file or '-'")
    return spec


def _open_lines(path: str) -> tuple[Iterable[bytes], str]:
    if path == "-":
        return sys.stdin.buffer, "<stdin>"
    p = Path(path)
    if not p.is_file():
        raise ScoringError(f"{path}: no such transcript file")
    if is_gzip(p):
        import gzip

        return io.BytesIO(gzip.open(p, "rb").read()), path
    return io.BytesIO(p.read_bytes()), path


def read_transcripts(
    spec: Pathlike,
    symbols: Optional[SymbolTable] = None,
    encoding: str = "utf-8",
) -> Transcripts:
    """Read a Kaldi text archive (rspecifier or path; ``-`` is stdin; gzip'd is fine).

    Args:
        spec: ``ark:path``, ``ark,p:-``, a plain path, or ``-``.
        symbols: if given, the file holds integer word ids, mapped to words through this table.
        encoding: text encoding of the file.

    Raises:
        ScoringError: undecodable bytes, an empty line, a duplicated key, a non-integer or unknown
            id in integer mode; the message names file, line and key.
    """
    path = rspecifier_path(str(spec))
    lines, source = _open_lines(path)
    out = Transcripts({}, source=source)
    for lineno, raw in enumerate(lines, 1):
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise ScoringError(
                f"{source}:{lineno}: bytes not valid {encoding} at column {e.start + 1} "
                f"({raw[max(0, e.start - 10): e.start + 10]!r}); convert the file or pass --encoding"
            ) from None
        fields = line.split()
        if not fields:
            raise ScoringError(f"{source}:{lineno}: empty line (expected '<utt-id> word ...')")
        key, words = fields[0], fields[1:]
        if key in out.words:
            raise ScoringError(
                f"{source}:{lineno}: utterance {key!r} repeated (first at line {out.line_of[key]})"
            )
        if symbols is not None:
            words = _ids_to_words(words, symbols, source, lineno, key)
        out.words[key] = words
        out.line_of[key] = lineno
    return out


def _ids_to_words(ids: list[str], symbols: SymbolTable, source: str, lineno: int, key: str) -> list[str]:
    words = []
    for tok in ids:
        if not tok.lstrip("-").isdigit():
            raise ScoringError(f"{source}:{lineno}: utterance {key!r}: {tok!r} is not an integer word id")
        try:
            words.append(symbols.word(int(tok)))
        except Exception:
            raise ScoringError(
                f"{source}:{lineno}: utterance {key!r}: word id {tok} is not in {symbols.source}"
            ) from None
    return words


def format_transcript_line(key: str, words: Iterable[str]) -> str:
    """One line as Kaldi's ``int2sym.pl`` writes it: every field followed by a space."""
    return key + " " + "".join(w + " " for w in words) + "\n"


def write_transcripts(path: Pathlike, transcripts: dict[str, list[str]], trailing_space: bool = True) -> None:
    """Write ``{utt: words}`` atomically: in ``int2sym.pl`` layout (trailing space, hypotheses) or
    as ``data/text`` lines (``trailing_space=False``, the ``test_filt.txt`` of references)."""
    with atomic_write(path) as f:
        for key, words in transcripts.items():
            f.write(format_transcript_line(key, words) if trailing_space else " ".join([key, *words]) + "\n")


def read_utt2spk(path: Pathlike) -> dict[str, str]:
    """Kaldi ``utt2spk`` (``<utt> <spk>`` per line).

    Raises:
        ScoringError: a line without exactly two fields (file and line named).
    """
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) != 2:
                raise ScoringError(f"{path}:{lineno}: expected '<utt> <spk>', got {line.strip()!r}")
            out[fields[0]] = fields[1]
    return out
