"""Kaldi lattices: archives in and out, HTK SLF import, and lattice operations with Kaldi's semantics.

Public API::

    from kaldi_mpq.lattice import Lattice, read_lattices, write_lattices, best_paths, PathSearch
    from kaldi_mpq.lattice import lattice_to_nbest   # lattice-to-nbest output, as Kaldi writes it
"""

from kaldi_mpq.lattice.io import LatticeTable, read_lattices, write_lattices
from kaldi_mpq.lattice.kaldi_nbest import lattice_to_nbest
from kaldi_mpq.lattice.lattice import Lattice
from kaldi_mpq.lattice.paths import Path, PathSearch, best_paths, nbest

__all__ = ["Lattice", "LatticeTable", "Path", "PathSearch", "best_paths", "lattice_to_nbest", "nbest",
           "read_lattices", "write_lattices"]
