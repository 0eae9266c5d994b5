"""Kaldi lattices: archives in and out, HTK SLF import, and lattice operations with Kaldi's semantics.

Public API::

    from kaldi_mpq.lattice import Lattice, read_lattices, write_lattices, best_paths, PathSearch
    from kaldi_mpq.lattice import kaldi_nbest_lattices   # lattice-to-nbest output, as Kaldi writes it
"""

from kaldi_mpq.lattice.io import LatticeTable, read_lattices, write_lattices
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.lattice.nbest_lattices import kaldi_nbest_lattices
from kaldi_mpq.lattice.paths import Path, PathSearch, best_paths, nbest

__all__ = ["Lattice", "LatticeTable", "Path", "PathSearch", "best_paths", "kaldi_nbest_lattices", "nbest",
           "read_lattices", "write_lattices"]
