"""A real single-node Slurm for the tests: munged, slurmctld and slurmd under one temp folder.

``SlurmCluster(folder).start()`` writes a minimal ``slurm.conf`` (this machine as the only node,
with the CPUs and memory ``slurmd -C`` reports, one partition ``debug``), starts munged on its own
socket and key, slurmctld and slurmd on free ports, and waits until the node is idle. Clients
(``sbatch``, ``squeue``, ``scontrol``, submitit) find it through ``SLURM_CONF``. ``stop()`` ends the
three daemons it started (by pid). Nothing under ``/etc`` or ``/run`` is touched.
``SlurmCluster.unavailable()`` says why no cluster can start here (no binaries, not root), or None.
There is no slurmdbd, so ``sacct`` has no data: the finished jobs are in ``jobcomp.log``
(``JobCompType=jobcomp/filetxt``) and in ``scontrol show job`` for ``MinJobAge`` seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name,) if p.exists()), None)


class SlurmCluster:
    partition = "debug"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.conf = self.folder / "slurm.conf"
        self.socket = self.folder / "munge" / "munge.socket"
        self.procs: dict[str, int] = {}
        self.node = socket.gethostname()

    @staticmethod
    def unavailable() -> str | None:
        missing = [n for n in DAEMONS + CLIENTS if _which(n) is None]
        if missing:
            return f"Slurm is not installed (missing {', '.join(missing)}; `make test` installs slurm-wlm and munge)"
        if os.geteuid() != 0:
            return "Slurm's daemons need root here (slurmd runs jobs as their users); run the tests as root"
        return None

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _hardware(self) -> tuple[int, int]:
        out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30).stdout
        cpus = int(re.search(r"CPUs=(\d+)", out).group(1))
        mem = int(re.search(r"RealMemory=(\d+)", out).group(1))
        return cpus, mem

    def write_conf(self) -> None:
        cpus, mem = self._hardware()
        self.cpus, self.mem_mb = cpus, mem
        f = self.folder
        for sub in ("munge", "state", "spool", "log"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(f / "munge", 0o700)
        self.conf.write_text(f"""\
ClusterName=knowloc-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.socket}
StateSaveLocation={f}/state
SlurmdSpoolDir={f}/spool
SlurmctldPidFile={f}/slurmctld.pid
SlurmdPidFile={f}/slurmd.pid
SlurmctldLogFile={f}/log/slurmctld.log
SlurmdLogFile={f}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={f}/log/jobcomp.log
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MinJobAge=600
DefMemPerCPU=1000
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
MpiDefault=none
PlugStackConfig={f}/plugstack.conf
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        (f / "plugstack.conf").write_text("")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.folder / "log" / f"{name}.out", "ab")
        env = {**os.environ, **self.env}
        p = subprocess.Popen([_which(name), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        self.procs[name] = p.pid
        time.sleep(0.5)
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited at once (status {p.returncode}): " + self.log_tail(name))

    def log_tail(self, name: str, n: int = 8) -> str:
        lines = []
        for path in (self.folder / "log" / f"{name}.out", self.folder / "log" / f"{name}.log"):
            if path.exists():
                lines += path.read_text(errors="replace").strip().splitlines()[-n:]
        return " | ".join(lines) or "(no log)"

    def start(self, timeout: float = 60) -> "SlurmCluster":
        self.write_conf()
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        os.chmod(key, 0o400)
        m = self.folder / "munge"
        self._spawn("munged", ["--foreground", "--force", f"--socket={self.socket}", f"--key-file={key}",
                               f"--pid-file={m}/munged.pid", f"--log-file={self.folder}/log/munged.log",
                               f"--seed-file={m}/munged.seed"])
        self._wait(lambda: self.socket.exists(), 10, "munged's socket")
        self._spawn("slurmctld", ["-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["-D", "-f", str(self.conf)])
        self._wait(self.node_idle, timeout, "the node to be idle")
        return self

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if ready():
                return
            dead = [n for n, pid in self.procs.items() if not _alive(pid)]
            if dead:
                raise RuntimeError(f"{dead[0]} stopped while waiting for {what}: " + self.log_tail(dead[0]))
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}: " + self.log_tail("slurmctld")
                           + " || " + self.log_tail("slurmd"))

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        """A Slurm client command (``scontrol``, ``squeue`` ...) against this cluster; its stdout."""
        p = subprocess.run([_which(args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **self.env})
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def node_state(self) -> str:
        try:
            return self.run("sinfo", "-h", "-n", self.node, "-o", "%T", check=False, timeout=10).strip()
        except subprocess.TimeoutExpired:
            return ""

    def node_idle(self) -> bool:
        return self.node_state().rstrip("*") == "idle"

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (JobState, Restarts, StdOut, ...)."""
        out = self.run("scontrol", "show", "job", "-o", str(job_id))
        return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)

    def completed_jobs(self) -> list[dict[str, str]]:
        """One dict per finished job from ``jobcomp.log`` (JobId, JobName, JobState, ExitCode ...)."""
        path = self.folder / "log" / "jobcomp.log"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            rows.append(dict(kv.split("=", 1) for kv in line.split() if "=" in kv))
        return rows

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            pid = self.procs[name]
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
        end = time.time() + 15
        for name, pid in self.procs.items():
            while _alive(pid) and time.time() < end:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pid in self.procs.values():
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.procs.clear()


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def slurm_fixture(tmp_path_factory):
    """Session fixture body: a started cluster, or the test skipped with the reason why not."""
    import pytest

    reason = SlurmCluster.unavailable()
    if reason:
        pytest.skip(f"no Slurm cluster: {reason}")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except Exception as e:  # e.g. no munge key permissions, ports, cgroups in a container
        cluster.stop()
        pytest.skip(f"Slurm could not start here: {e}")
    try:
        yield cluster
    finally:
        cluster.stop()
