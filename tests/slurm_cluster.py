"""A real single-node Slurm cluster on localhost for tests: munged, slurmctld and slurmd from Debian's
packages (slurmctld, slurmd, slurm-client, munge), each started here with its own key, ports, state
and logs in a temporary directory, and stopped at the end.

The configuration is one that works in a container: no cgroups (proctrack/linuxproc, task/none, no
accounting gatherer), no accounting database (``sacct`` has nothing to read), so finished jobs are
recorded with ``jobcomp/filetxt`` in :attr:`SlurmCluster.jobcomp`, one line per array task. The node has no
GPUs (no GRES), so Slurm refuses jobs that ask for one.
Starting daemons needs root; :func:`start_cluster` skips the test with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "scancel")
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slurm_conf(root: Path, socket_path: Path, host: str, cpus: int) -> str:
    return "\n".join([
        "ClusterName=kaldimpqtest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "AuthType=auth/munge",
        "CryptoType=crypto/munge",
        f"AuthInfo=socket={socket_path}",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root / 'jobcomp.txt'}",
        "MpiDefault=none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SlurmdParameters=config_overrides",
        "ReturnToService=2",
        "MinJobAge=300",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4096 State=UNKNOWN",
        f"PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


@dataclass
class SlurmCluster:
    """A running cluster; :attr:`env` is the environment its client commands (sbatch...) need."""

    root: Path
    env: dict
    socket_dir: Path
    processes: list = field(default_factory=list)

    @property
    def jobcomp(self) -> list[str]:
        """One line per finished job (array task): ``JobId=.. JobState=.. ArrayJobId=.. ArrayTaskId=..``."""
        path = self.root / "jobcomp.txt"
        return path.read_text().splitlines() if path.exists() else []

    def logs(self) -> str:
        files = sorted([*self.root.glob("*.log"), *self.root.glob("*.out")])
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in files)

    def stop(self) -> None:
        for proc in reversed(self.processes):  # slurmd, slurmctld, munged: the ones started here
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def missing_programs() -> list[str]:
    search = f"/usr/sbin:/usr/bin:{os.environ.get('PATH', '')}"
    return [p for p in DAEMONS if shutil.which(p, path=search) is None]


def start_cluster(root: Path, cpus: int = 4) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under ``root`` and wait until the node is idle."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start slurmctld and slurmd (CI runs as root)")
    missing = missing_programs()
    if missing:
        pytest.skip(f"needs Debian's slurmctld, slurmd, slurm-client and munge (missing {', '.join(missing)}; "
                    f"'bash local/install.sh --test' installs them when run as root)")
    root.mkdir(parents=True, exist_ok=True)
    for d in ("state", "spool"):
        (root / d).mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    # munged wants every directory above its socket searchable by all (pytest's are private)
    socket_dir = Path(tempfile.mkdtemp(prefix="kaldi-mpq-munge-"))
    socket_dir.chmod(0o755)
    socket_path = socket_dir / "munge.socket"
    conf.write_text(_slurm_conf(root, socket_path, host, cpus))
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"/usr/sbin:/usr/bin:{os.environ.get('PATH', '')}"}
    for var in [v for v in env if v.startswith(("SLURM_", "SBATCH_")) and v != "SLURM_CONF"]:
        del env[var]  # a test run inside a Slurm job must not pass that job's settings on
    cluster = SlurmCluster(root, env, socket_dir)
    key = root / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, env=env, capture_output=True)

    def launch(*cmd: str) -> None:
        out = open(root / f"{Path(cmd[0]).name}.out", "w")
        cluster.processes.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                  start_new_session=True))

    try:
        launch("munged", "--foreground", f"--socket={socket_path}", f"--key-file={key}",
               f"--pid-file={root / 'munged.pid'}", f"--seed-file={root / 'munged.seed'}")
        _wait_for(socket_path.exists, "munged's socket", cluster)
        launch("slurmctld", "-D", "-f", str(conf))
        launch("slurmd", "-D", "-f", str(conf), "-N", host)
        _wait_for(lambda: _node_state(env) == "idle", "the node to be idle", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _node_state(env: dict) -> str:
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


def _wait_for(ready, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        dead = [p.args[0] for p in cluster.processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}:\n{cluster.logs()}")
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {START_TIMEOUT:.0f} s waiting for {what}:\n{cluster.logs()}")
