"""Atomic outputs: all or nothing, with the permissions a plain open/mkdir would give."""

import os
import stat

import pytest

from kaldi_mpq.fileio import atomic_dir, atomic_write


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_atomic_outputs_get_umask_permissions(tmp_path, umask_027):
    with atomic_write(tmp_path / "a.txt") as f:
        f.write("x\n")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("y")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o750


def test_failed_writes_leave_nothing(tmp_path):
    (tmp_path / "keep.txt").write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "keep.txt") as f:
            f.write("new")
            raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out") as d:
            (d / "part").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert (tmp_path / "keep.txt").read_text() == "old\n"


def test_device_and_pipe_outputs_are_written_in_place(tmp_path):
    """``--out /dev/null`` or a named pipe: written through, never replaced by a renamed regular file
    (as root that would turn the machine's /dev/null into a file)."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    with atomic_write(fifo) as f:
        f.write("through the pipe\n")
    reader.join(timeout=10)
    assert got == ["through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file left

    with atomic_write("/dev/null") as f:
        f.write("discarded\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
