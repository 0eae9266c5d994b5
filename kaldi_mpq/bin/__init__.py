"""One module per ``kaldi-mpq`` sub-command: ``add_arguments(parser)`` and ``main(args) -> int``.

Each module opens with a ``Usage:`` block and turns ``args`` into keyword arguments of one or two
library calls; library logic lives in the domain packages.
"""
