"""Score a Kaldi decode dir from its lattices: LMWT x WIP sweep (score_kaldi.sh) or NIST sclite/hubscr.

Usage:
    kaldi-mpq score data/test data/lang exp/tri3a/decode
    kaldi-mpq score --layout old --hyp-filter unk data/test data/lang/words.txt exp/tri3a/decode
    kaldi-mpq score --sclite --frame-subsampling-factor 3 data/eval2000 data/lang exp/chain/decode_eval2000
    kaldi-mpq score --sclite --asclite --overlap-limit 4 data/sdm1/dev data/lang exp/sdm1/decode_dev

The Kaldi path writes ``scoring_kaldi/`` (or ``scoring/`` + ``wer_LMWT`` with ``--layout old``); the sclite
path writes ``score_LMWT_WIP/`` with CTMs and sclite/hubscr reports (``data/stm``, ``data/glm``), scoring
with the built-in Python scorer when SCTK is absent.
"""

from __future__ import annotations

from kaldi_mpq.bin.argtypes import positive_float, positive_int

from kaldi_mpq.scoring.decode_dir import LAYOUTS, ScoreOptions, score_decode_dir
from kaldi_mpq.scoring.kaldi_wer import MODES

_D = ScoreOptions()


def add_arguments(parser) -> None:
    parser.add_argument("data_dir", help="data dir with text (and utt2spk; stm, glm, segments for --sclite)")
    parser.add_argument("lang", help="lang dir or its words.txt")
    parser.add_argument("decode_dir", help="decode dir with num_jobs and lat.JOB.gz")
    parser.add_argument("--min-lmwt", type=positive_int, default=_D.min_lmwt)
    parser.add_argument("--max-lmwt", type=positive_int, default=_D.max_lmwt)
    parser.add_argument("--word-ins-penalty", default=",".join(_D.word_ins_penalties),
                        help="comma-separated penalties, as in penalty_P names")
    parser.add_argument("--layout", choices=LAYOUTS, default=_D.layout)
    parser.add_argument("--mode", choices=MODES, default=_D.mode, help="compute-wer mode")
    parser.add_argument("--hyp-filter", default=_D.hyp_filter, help="comma-separated word filters (hypotheses)")
    parser.add_argument("--ref-filter", default=_D.ref_filter, help="comma-separated word filters (reference)")
    from kaldi_mpq.scoring.sclite_dir import SCLITE_DEFAULTS as S

    g = parser.add_argument_group("NIST scoring (--sclite)")
    g.add_argument("--sclite", action="store_true", help="CTM + STM scoring with sclite/hubscr instead of compute-wer")
    g.add_argument("--frame-shift", type=positive_float, default=S.frame_shift, help="seconds per input frame")
    g.add_argument("--frame-subsampling-factor", type=positive_int, default=S.frame_subsampling_factor, help="3 for chain models")
    g.add_argument("--stm", default=None, help="reference STM (default data_dir/stm)")
    g.add_argument("--glm", default=None, help="GLM file (default data_dir/glm when present)")
    g.add_argument("--hubscr", choices=("auto", "yes", "no"), default=S.hubscr,
                   help="hubscr.pl (Switchboard-style sets) instead of sclite; auto: for eval2000/rt0x/swbd names")
    g.add_argument("--asclite", action="store_true", help="asclite with overlap scoring (AMI sdm/mdm)")
    g.add_argument("--overlap-limit", type=positive_int, default=S.overlap_limit, help="asclite -overlap-limit")
    g.add_argument("--python-scorer", action="store_true", help="use the built-in scorer even when SCTK is installed")


def main(args) -> int:
    opts = ScoreOptions(args.min_lmwt, args.max_lmwt, tuple(p for p in args.word_ins_penalty.split(",") if p),
                        args.layout, args.hyp_filter, args.ref_filter, args.mode)
    if not args.sclite:
        score_decode_dir(args.data_dir, args.lang, args.decode_dir, opts)
        return 0
    from kaldi_mpq.scoring.sclite_dir import ScliteOptions, score_decode_dir_sclite

    sopts = ScliteOptions(args.frame_shift, args.frame_subsampling_factor, args.stm, args.glm, args.hubscr,
                          args.asclite, args.overlap_limit, args.python_scorer)
    score_decode_dir_sclite(args.data_dir, args.lang, args.decode_dir, opts, sopts)
    return 0
