"""A real SLURM cluster on this machine for tests: munged, slurmctld and slurmd from Debian's
`slurm-wlm` and `munge` packages, with every file in one temporary folder (no systemd).

One slurm.conf describes two partitions on this host: `one` with a node of 2 CPUs, and `two` with
two nodes of 1 CPU each, each node its own slurmd (`slurmd -N NAME`, a port of its own), which
Debian's build allows. Accounting (slurmdbd, hence sacct) is not set up: a finished job's state
is read from the job completion log (JobCompType=jobcomp/filetxt). Each slurmd runs in a PID
namespace of its own (`unshare --pid --mount-proc`), so what a job does to "every process on the
node" (`ray symmetric-run` ends with `ray stop`) stays inside that node and never reaches other
Ray instances on this machine; killing the namespace's first process ends all of the node's jobs.
`missing()` names what is absent (not root, no binaries), for a one-line skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from servers import free_port, wait_for

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
NODES = {"c1": ("one", 2), "c2": ("two", 1), "c3": ("two", 1)}  # node: (partition, CPUs)
MEMORY_MB = 2000


def missing() -> str | None:
    """Why a SLURM cluster cannot start here, or None."""
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if absent:
        return f"needs SLURM ({', '.join(absent)} missing): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "needs root to run slurmd"
    return None


def _namespaced() -> list[str]:
    """`unshare` into a new PID namespace where this machine allows it, else nothing."""
    probe = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "true"]
    ok = shutil.which("unshare") and subprocess.run(probe, capture_output=True).returncode == 0
    return probe[:-1] if ok else []


class SlurmCluster:
    """Start with `start()`, stop with `stop()`; `env` points SLURM's commands at this cluster."""

    def __init__(self) -> None:
        # munged wants a folder only its user can write; Slurm's sockets want short paths.
        self.folder = Path(tempfile.mkdtemp(prefix="zfslurm-"))
        self.conf = self.folder / "slurm.conf"
        self.completions = self.folder / "jobcomp.txt"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.processes: dict[str, subprocess.Popen] = {}

    def _write_config(self) -> None:
        host, munge = socket.gethostname().split(".")[0], self.folder / "munge"
        for sub in ("state", "log", "munge", *(f"spool/{node}" for node in NODES)):
            (self.folder / sub).mkdir(mode=0o700, parents=True)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        lines = ["ClusterName=zfsweep-test", f"SlurmctldHost={host}", f"SlurmctldPort={free_port()}",
                 f"SlurmdPort={free_port()}", "AuthType=auth/munge", "CredType=cred/munge",
                 f"AuthInfo=socket={munge / 'socket'}", "SlurmUser=root", "SlurmdUser=root",
                 f"StateSaveLocation={self.folder / 'state'}", f"SlurmdSpoolDir={self.folder / 'spool'}/%n",
                 f"SlurmctldPidFile={self.folder / 'slurmctld.pid'}", f"SlurmdPidFile={self.folder / 'slurmd-%n.pid'}",
                 f"SlurmctldLogFile={self.folder / 'log' / 'slurmctld.log'}",
                 f"SlurmdLogFile={self.folder / 'log' / 'slurmd-%n.log'}",
                 "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none", "ReturnToService=2",
                 "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "JobAcctGatherType=jobacct_gather/none",
                 "AccountingStorageType=accounting_storage/none", "JobCompType=jobcomp/filetxt",
                 f"JobCompLoc={self.completions}", "MinJobAge=600"]
        for name, (_, cpus) in NODES.items():
            lines.append(f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={free_port()} "
                         f"CPUs={cpus} RealMemory={MEMORY_MB} State=UNKNOWN")
        for partition in sorted({p for p, _ in NODES.values()}):
            nodes = ",".join(n for n, (p, _) in NODES.items() if p == partition)
            lines.append(f"PartitionName={partition} Nodes={nodes} MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n")

    def _start(self, name: str, command: list[str]) -> None:
        log = open(self.folder / "log" / f"{name}.out", "w")
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def _alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                logs = "".join(p.read_text()[-1500:] for p in sorted((self.folder / "log").iterdir()))
                raise AssertionError(f"{name} exited with {process.returncode}: {logs}")

    def start(self) -> "SlurmCluster":
        self._write_config()
        munge = self.folder / "munge"
        self._start("munged", ["munged", "--foreground", "--force", f"--key-file={munge / 'munge.key'}",
                               f"--socket={munge / 'socket'}", f"--pid-file={munge / 'pid'}",
                               f"--log-file={munge / 'log'}", f"--seed-file={munge / 'seed'}"])
        wait_for(lambda: (munge / "socket").exists(), "munged", alive=self._alive)
        self._start("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        namespace = _namespaced()
        for node in NODES:
            self._start(f"slurmd-{node}", [*namespace, "slurmd", "-D", "-N", node, "-f", str(self.conf)])
        wait_for(lambda: self.idle_nodes() == len(NODES), "every SLURM node idle", timeout=120, alive=self._alive)
        return self

    def idle_nodes(self) -> int:
        done = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env, capture_output=True, text=True)
        return sum(line.split()[1] == "idle" for line in done.stdout.splitlines() if len(line.split()) == 2)

    def queued(self) -> list[str]:
        done = subprocess.run(["squeue", "-h", "-o", "%i"], env=self.env, capture_output=True, text=True, check=True)
        return done.stdout.split()

    def final_state(self, job_id: str, timeout: float) -> str:
        """The job's state once it has left the queue (the completion log), waiting at most `timeout`."""
        pattern = re.compile(rf"^JobId={job_id} .*?JobState=(\S+)", re.M)

        def recorded() -> bool:
            return self.completions.exists() and pattern.search(self.completions.read_text()) is not None

        wait_for(recorded, f"SLURM job {job_id} to end", timeout=timeout, alive=self._alive)
        return pattern.search(self.completions.read_text()).group(1)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        time.sleep(0.2)
        shutil.rmtree(self.folder, ignore_errors=True)
