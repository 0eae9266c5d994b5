"""Word filters applied to references and hypotheses before scoring, selectable by name per recipe.

Kaldi recipes filter with ``local/wer_hyp_filter``, ``local/wer_ref_filter`` and ``grep -v`` on CTM lines
(``local/score_sclite.sh``); each such filter is a named function here, and recipes pick a list of names
(``--hyp-filter swbd``, ``--ref-filter noise,unk``). A filter maps a word list to a word list.

Filters:
    ``none``: keep every word.
    ``noise``: drop bracketed noise markers (``[noise]``, ``[LAUGHTER]``, ``[vocalized-noise]``, any ``[...]``).
    ``unk``: drop ``<unk>`` / ``<UNK>`` (any case).
    ``hesitation``: drop hesitations (UH UM EH MM HM AH HUH HA ER OOF HEE ACH EEE EW, any case, and
        ``%HESITATION``).
    ``partial``: drop partial words ending in ``-`` (``TH-``, ``-``).
    ``swbd``: Switchboard ``local/score_sclite.sh`` CTM filtering: noise, unk, hesitation, partial.
    ``ami``: AMI ``local/score_asclite.sh`` CTM filtering: noise, unk, and the AMI hesitation list
        (ACH AH EEE EH ER EW HA HEE HM HMM HUH MM OOF UH UM).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from kaldi_mpq.errors import ConfigError

WordFilter = Callable[[Sequence[str]], list[str]]

# swbd score_sclite.sh: the words the eval2000 GLM maps to %HESITATION
SWBD_HESITATIONS = frozenset("UH UM EH MM HM AH HUH HA ER OOF HEE ACH EEE EW".split())
# ami score_asclite.sh adds HMM
AMI_HESITATIONS = SWBD_HESITATIONS | {"HMM"}
# swbd: '\[NOISE|LAUGHTER|VOCALIZED-NOISE\]' (case-insensitive); generalised to any bracketed token
_NOISE = re.compile(r"^\[.*\]$")


def keep_all(words: Sequence[str]) -> list[str]:
    return list(words)


def drop_noise(words: Sequence[str]) -> list[str]:
    return [w for w in words if not _NOISE.match(w)]


def drop_unk(words: Sequence[str]) -> list[str]:
    return [w for w in words if w.lower() != "<unk>"]


def _drop_upper_in(words: Sequence[str], bad: frozenset) -> list[str]:
    return [w for w in words if w.upper() not in bad and w.upper() != "%HESITATION"]


def drop_hesitation(words: Sequence[str]) -> list[str]:
    return _drop_upper_in(words, SWBD_HESITATIONS)


def drop_partial(words: Sequence[str]) -> list[str]:
    return [w for w in words if not w.endswith("-")]


def swbd_filter(words: Sequence[str]) -> list[str]:
    return drop_partial(drop_hesitation(drop_unk(drop_noise(words))))


def ami_filter(words: Sequence[str]) -> list[str]:
    return _drop_upper_in(drop_unk(drop_noise(words)), AMI_HESITATIONS)


FILTERS: dict[str, WordFilter] = {
    "none": keep_all,
    "noise": drop_noise,
    "unk": drop_unk,
    "hesitation": drop_hesitation,
    "partial": drop_partial,
    "swbd": swbd_filter,
    "ami": ami_filter,
}


def make_filter(names: str | Iterable[str]) -> WordFilter:
    """Compose filters given as ``"noise,unk"`` or a list of names, applied left to right.

    Raises:
        ConfigError: an unknown filter name (the known ones are listed).
    """
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    funcs = []
    for n in names:
        if n not in FILTERS:
            raise ConfigError(f"unknown word filter {n!r}; known: {', '.join(FILTERS)}")
        funcs.append(FILTERS[n])

    def apply(words: Sequence[str]) -> list[str]:
        out = list(words)
        for f in funcs:
            out = f(out)
        return out

    return apply


def filter_transcripts(words: dict[str, list[str]], word_filter: WordFilter) -> dict[str, list[str]]:
    """Apply ``word_filter`` to every utterance of ``{utt: words}``."""
    return {k: word_filter(v) for k, v in words.items()}
