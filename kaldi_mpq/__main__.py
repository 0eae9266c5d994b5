import sys

from kaldi_mpq.cli import main

sys.exit(main())
