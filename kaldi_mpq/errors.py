"""Error types. Every error a user can cause derives from :class:`KaldiMpqError`.

``cli.main`` prints such errors as one line (no traceback unless ``--verbose``) and exits with 1.
Messages name the file, the utterance key and the line or byte offset, quote the bad text and say what
was expected.
"""


class KaldiMpqError(Exception):
    """Base class of all errors caused by bad input or bad usage."""


class SymbolTableError(KaldiMpqError):
    """A words.txt problem, including "word lists mismatch" between an LM and a lang dir."""


class TextFormatError(KaldiMpqError):
    """Malformed or empty training / evaluation text."""


class CheckpointError(KaldiMpqError):
    """A missing, corrupt or incompatible LM checkpoint or packed model."""


class TrainingError(KaldiMpqError):
    """Training cannot go on (for example a NaN loss)."""


class LatticeFormatError(KaldiMpqError):
    """A malformed lattice or archive; the message names archive, key and byte offset.

    ``recoverable``: the reader stopped right after the bad entry (its extent was known), so a
    tolerant reader may go on from there instead of searching for the next entry.
    """

    def __init__(self, message: str, recoverable: bool = False):
        super().__init__(message)
        self.recoverable = recoverable


class ArpaFormatError(KaldiMpqError):
    """A malformed ARPA n-gram file."""


class PlanError(KaldiMpqError):
    """An invalid quantization plan (unknown cluster, unsupported bit-width)."""


class ScoringError(KaldiMpqError):
    """Inconsistent references / hypotheses or a failing external scorer."""


class ConfigError(KaldiMpqError):
    """An invalid YAML config or command-line override."""
