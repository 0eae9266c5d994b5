"""Shared test fixtures: where ``../shared/data`` is, and markers for data- or tool-dependent tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("KALDI_MPQ_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SCTK_BIN = Path("/usr/lib/sctk/bin")


def shared_data_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with the reason if it is not there."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (../shared/data beside the repository; set KALDI_MPQ_SHARED_DATA)")
    return p


def sclite_path(tool: str = "sclite") -> Path:
    """Path of an SCTK tool, or skip with the reason (CI installs Debian's sctk)."""
    for cand in (SCTK_BIN / tool, shutil.which(tool)):
        if cand and Path(cand).exists():
            return Path(cand)
    pytest.skip(f"needs SCTK's {tool} (apt-get install sctk)")


@pytest.fixture
def shared_data():
    return shared_data_path
