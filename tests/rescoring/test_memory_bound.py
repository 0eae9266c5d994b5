"""Lattice rescoring, n-best rescoring and n-best extraction on the largest real lattice stay within the
address-space bounds stated in docs/rescoring.md ("Memory"), each run in a child under RLIMIT_AS.

The runs and the lattice search are bench/lattice_memory.py's (which prints the measured peaks)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import REPO_ROOT, shared_data_path

MiB = 1 << 20
# The stated bounds (docs/rescoring.md): address space, with torch loaded for the two commands.
BOUNDS = {"lattice-rescore": 1024 * MiB, "nbest-rescore": 1024 * MiB, "nbest": 256 * MiB}


def _bench():
    spec = importlib.util.spec_from_file_location("lattice_memory", REPO_ROOT / "bench" / "lattice_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/status (Linux)")
    shared = shared_data_path("kaldi-lattices-tagalog-tri3a").parent
    bench = _bench()
    work = tmp_path_factory.mktemp("memory")
    dec, words, lm, what = bench.prepare(shared, work)
    assert "299 arcs" in what  # weather010_001: the largest of the tagalog, digits and yes/no decodes
    return bench, bench.commands(dec, words, lm, work, max_arcs=100000, n=1000, nbest_n=100000)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_largest_real_lattice_within_the_stated_bound(runs, name):
    bench, commands = runs
    peaks = bench.measure(*commands[name], limit_as=BOUNDS[name])  # raises if the child failed
    assert peaks["vm_mib"] * MiB <= BOUNDS[name]


def test_the_bound_is_enforced(runs):
    """The same child under a limit far below its need fails: the limit is real, not decorative."""
    bench, commands = runs
    with pytest.raises(RuntimeError, match="lattice-rescore failed"):
        bench.measure(*commands["lattice-rescore"], limit_as=200 * MiB)
