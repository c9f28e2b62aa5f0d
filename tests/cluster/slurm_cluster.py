"""A real single-node SLURM cluster on localhost, for end-to-end tests of the SLURM executor.

Debian's SLURM 22.05 (slurmctld, slurmd, slurmdbd), MariaDB as slurmdbd's database and munge, all
started by this module as foreground children from configuration generated into a private temp
directory, and stopped by the PIDs it started. The one node advertises GPUs (GRES backed by
character devices, as GPU-less machines have no real one), so `--gpus=1` jobs are scheduled and
accounted as `gres/gpu` exactly as on a GPU cluster. Needs root (daemons, mknod, /etc/slurm), and
workflow_scripts/ on sys.path (tests/conftest.py puts it there) for the pipeline's process identity.

Usage::

    ensure_packages()                      # apt-get install if anything is missing
    with SlurmCluster() as cluster:        # started; stopped on exit whatever happens
        subprocess.run([...], env=cluster.env())
        cluster.sacct_jobs()
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from workflow_locks import process_start  # the pipeline's own test of "is the owner still running"

PACKAGES = (
    "munge",
    "slurmctld",
    "slurmd",
    "slurm-client",
    "slurmdbd",
    "slurm-wlm-basic-plugins",
    "slurm-wlm-mysql-plugin",
    "mariadb-server",
)
# The Snakemake executor plugin's jobstep part (not slurmstepd) runs each job's `srun` with every
# SLURM_* variable stripped, SLURM_CONF included, so the configuration must also be found at the
# compiled-in default path. Real sites that rely on SLURM_CONF alone hit the same (docs/slurm.md).
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
CLUSTER = "nusmooth"
ACCOUNT = "nusmooth"
PARTITION = "debug"
ROOT_PREFIX = "nusmooth-slurm-"
OWNER_FILE = "owner"  # "PID START" of the test process that started the cluster


class ClusterError(RuntimeError):
    """The cluster could not be installed, started or queried; the message says which step and why."""


def _run(args, *, timeout: float, env=None, check=True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as error:
        raise ClusterError(f"`{' '.join(map(str, args))}` did not finish within {timeout:g} s") from error
    if check and done.returncode != 0:
        raise ClusterError(
            f"`{' '.join(map(str, args))}` failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return done


def missing_packages() -> list[str]:
    missing = []
    for package in PACKAGES:
        done = _run(["dpkg-query", "-W", "-f=${Status}", package], timeout=30, check=False)
        if done.returncode != 0 or "install ok installed" not in done.stdout:
            missing.append(package)
    return missing


def ensure_packages(timeout: float = 600) -> None:
    """Install the Debian packages of the cluster with apt-get if any is missing.

    Raises ClusterError (never skips) when installation is impossible, naming the packages.
    """
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise ClusterError(f"Debian packages {missing} are missing and installing them needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update"], timeout=timeout, env=env)
    try:
        _run(["apt-get", "install", "-y", "--no-install-recommends", *missing], timeout=timeout, env=env)
    except ClusterError as error:
        raise ClusterError(f"cannot install the SLURM test cluster's Debian packages {missing}: {error}") from error
    still = missing_packages()
    if still:
        raise ClusterError(f"apt-get reported success but Debian packages {still} are still not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until(description: str, probe, timeout: float, interval: float = 0.5, diagnose=lambda: ""):
    """Poll ``probe`` (returns a truthy value when done) for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:g} s waiting for {description}. {diagnose()}".strip())
        time.sleep(interval)


def _seconds(elapsed: str) -> int:
    """squeue's %M ([days-][hours:]minutes:seconds) in seconds."""
    days, _, clock = elapsed.rpartition("-")
    seconds = 0
    for part in clock.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds + 86400 * int(days or 0)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return f"Last lines of {path}:\n" + "\n".join(text[-lines:])


@dataclass
class SacctJob:
    job_id: str
    rule: str
    state: str
    partition: str
    account: str
    alloc_tres: str
    comment: str
    workdir: str
    time_limit_minutes: int | None  # sacct TimelimitRaw; None when unlimited
    requested_mb: float  # sacct ReqMem in MB
    requested_cpus: int  # sacct ReqCPUS

    @property
    def gpus(self) -> int:
        match = re.search(r"gres/gpu=(\d+)", self.alloc_tres)
        return int(match.group(1)) if match else 0


def _test_cluster_root(link_target: Path) -> Path | None:
    """The root of the test cluster that a /etc/slurm/slurm.conf link points into, None when the
    link is not one of ours (ROOT/etc/slurm.conf with ROOT made by mkdtemp(prefix=ROOT_PREFIX))."""
    root = link_target.parent.parent
    if link_target.name == "slurm.conf" and link_target.parent.name == "etc" and root.name.startswith(ROOT_PREFIX):
        return root
    return None


def _owner_alive(root: Path) -> int | None:
    """PID of the live test process that started the cluster in ROOT, None when it has ended."""
    try:
        pid, start = (root / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        return None  # never written (killed before it started) or written by an older version
    return int(pid) if process_start(int(pid)) == start else None


def processes_using(conf: Path) -> list[int]:
    """PIDs of processes started with SLURM_CONF=conf: the daemons (and jobs) of that cluster."""
    marker = f"SLURM_CONF={conf}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue  # ended meanwhile, or a kernel thread
    return found


def clear_leftover_link(grace: float = 10) -> None:
    """Remove a /etc/slurm/slurm.conf link left by a test run that was killed before its teardown
    (SIGKILL, a machine's session ending): stop the daemons it left (they run in their own sessions,
    so they outlive the test) and unlink. A link to a cluster whose test still runs is refused, and
    anything that is not our link is left to the caller's check."""
    target = Path(os.readlink(DEFAULT_CONF))
    root = _test_cluster_root(target)
    if root is None:
        if not DEFAULT_CONF.exists():
            DEFAULT_CONF.unlink()  # dangling: whatever it pointed to is gone
        return
    owner = _owner_alive(root)
    if owner is not None:
        raise ClusterError(
            f"{DEFAULT_CONF} belongs to the test cluster in {root}, started by the running test process {owner}; "
            "wait for that test run to finish (one test cluster per machine)"
        )
    leftovers = {pid: process_start(pid) for pid in processes_using(target)}

    def still_running():  # same PID *and* start time: a reused PID is someone else's process
        return [pid for pid, start in leftovers.items() if start is not None and process_start(pid) == start]

    for pid in still_running():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and still_running():
        time.sleep(0.2)
    for pid in still_running():
        os.kill(pid, signal.SIGKILL)
    DEFAULT_CONF.unlink()


def _megabytes(amount: str) -> float:
    """sacct's ReqMem (e.g. 16000M, 15.62G; older versions append n or c) in MB."""
    match = re.fullmatch(r"([\d.]+)([KMGT]?)[nc]?", amount)
    if not match:
        raise ClusterError(f"unexpected ReqMem from sacct: {amount!r}")
    return float(match.group(1)) * {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[match.group(2)]


class SlurmCluster:
    """One-node cluster with munge, MariaDB, slurmdbd, slurmctld and slurmd; a context manager."""

    def __init__(
        self,
        root: Path | None = None,
        extra_partitions: tuple = (),
        min_cpus: int = 2,
        min_memory_mb: int = 32000,
        step_timeout: float = 60,
        extra_accounts: tuple[str, ...] = (),
        gpus: int = 1,
        environ: dict[str, str] | None = None,
    ):
        """extra_partitions: partitions beside the default one, on the same node: names, or (name,
        slurm.conf options) pairs, e.g. ("short", "MaxTime=1") for a partition with a time limit.
        min_cpus, min_memory_mb: what the node advertises at least (the real values when larger),
        so that the profile's requests, sized for real clusters, can be scheduled on a small CI
        runner; nothing is enforced without cgroups anyway.
        extra_accounts: accounts registered beside ACCOUNT that the test user is not associated
        with (submissions charged to them are rejected).
        gpus: GPUs the node advertises (stand-in devices), so that as many GPU jobs can run at once.
        environ: the environment of the daemons and of env() (default: os.environ now); a copy is
        kept, so that later changes to os.environ (a test's monkeypatch) do not reach the cluster."""
        self.extra_accounts = tuple(extra_accounts)
        self.gpus = gpus
        self.environ = dict(os.environ if environ is None else environ)
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        # Daemons that drop root (munge, mysql) must be able to traverse the directory.
        self.root.chmod(0o755)
        self.step_timeout = step_timeout
        self.extra_partitions = tuple(
            (p, "MaxTime=INFINITE") if isinstance(p, str) else tuple(p) for p in extra_partitions
        )
        self.min_cpus, self.min_memory_mb = min_cpus, min_memory_mb
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "etc" / "slurm.conf"
        self.ports = {name: _free_port() for name in ("mysql", "slurmdbd", "slurmctld", "slurmd")}
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.mysql_socket = self.root / "mysql" / "mysqld.sock"
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self._own_default_conf = False

    # ----------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment for SLURM clients (sbatch, sacct, snakemake --executor slurm)."""
        return {**self.environ, "SLURM_CONF": str(self.conf)}

    def __enter__(self) -> "SlurmCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------
    def start(self) -> None:
        if os.geteuid() != 0:
            raise ClusterError("the SLURM test cluster needs root (daemons, mknod, /etc/slurm)")
        for sub in ("etc", "log", "state", "spool", "run", "dev"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Who owns this cluster: a later run finding our /etc/slurm link knows whether we still live.
        (self.root / OWNER_FILE).write_text(f"{os.getpid()} {process_start(os.getpid())}\n")
        self._start_munge()
        self._start_mariadb()
        self._write_slurm_conf()
        self._start_slurmdbd()
        self._register_accounts()
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", self.conf])
        self._spawn("slurmd", ["slurmd", "-D", "-f", self.conf, "-N", self.host])
        _wait_until(
            "the node to become idle (sinfo)",
            lambda: set(self._node_state().split()) == {"idle"},  # one line per partition
            self.step_timeout,
            diagnose=lambda: f"sinfo says '{self._node_state()}'. {self._drain_reason()}\n"
            + _tail(self.root / "log" / "slurmctld.log")
            + "\n"
            + _tail(self.root / "log" / "slurmd.log"),
        )

    def _spawn(self, name: str, args, user: str | None = None) -> subprocess.Popen:
        log = open(self.root / "log" / f"{name}.out", "ab")
        try:
            process = subprocess.Popen(
                [str(a) for a in args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                user=user,
                start_new_session=True,  # a Ctrl-C of the test reaches the test, which stops the daemons itself
            )
        finally:
            log.close()
        self.processes.append((name, process))
        time.sleep(0.2)
        if process.poll() is not None:
            raise ClusterError(
                f"{name} exited at once with code {process.returncode}. " + _tail(self.root / "log" / f"{name}.out")
            )
        return process

    def _alive(self, name: str) -> None:
        for process_name, process in self.processes:
            if process_name == name and process.poll() is not None:
                raise ClusterError(
                    f"{name} died with code {process.returncode}. " + _tail(self.root / "log" / f"{name}.out")
                )

    def _start_munge(self) -> None:
        munge = pwd.getpwnam("munge")
        directory = self.root / "munge"
        directory.mkdir()
        directory.chmod(0o711)  # clients need to traverse to the socket; listing stays private
        key = directory / "munge.key"
        key.write_bytes(os.urandom(1024))  # a fresh private key: nothing outside this cluster can talk to it
        key.chmod(0o400)
        for path in (directory, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={directory / 'munged.pid'}",
                f"--log-file={directory / 'munged.log'}",
                f"--seed-file={directory / 'munged.seed'}",
            ],
            user="munge",
        )
        _wait_until(
            "munged's socket",
            lambda: self.munge_socket.exists(),
            self.step_timeout,
            diagnose=lambda: self._alive("munged") or _tail(directory / "munged.log"),
        )

    def _mysql(self, sql: str) -> None:
        _run(
            ["mariadb", "--no-defaults", f"--socket={self.mysql_socket}", "-u", "root", "-e", sql],
            timeout=self.step_timeout,
        )

    def _start_mariadb(self) -> None:
        mysql = pwd.getpwnam("mysql")
        directory = self.root / "mysql"
        data = directory / "data"
        data.mkdir(parents=True)
        for path in (directory, data):
            os.chown(path, mysql.pw_uid, mysql.pw_gid)
        _run(
            [
                "mariadb-install-db",
                "--no-defaults",
                "--user=mysql",
                f"--datadir={data}",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ],
            timeout=120,
        )
        self._spawn(
            "mariadbd",
            [
                "mariadbd",
                "--no-defaults",
                "--user=mysql",
                f"--datadir={data}",
                f"--socket={self.mysql_socket}",
                f"--port={self.ports['mysql']}",
                "--bind-address=127.0.0.1",
                f"--pid-file={directory / 'mariadbd.pid'}",
                f"--log-error={self.root / 'log' / 'mariadbd.log'}",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
                "--skip-name-resolve",
            ],
        )

        def ready():
            self._alive("mariadbd")
            return (
                _run(
                    ["mariadb-admin", "--no-defaults", f"--socket={self.mysql_socket}", "-u", "root", "ping"],
                    timeout=10,
                    check=False,
                ).returncode
                == 0
            )

        _wait_until(
            "MariaDB to accept connections",
            ready,
            self.step_timeout,
            diagnose=lambda: _tail(self.root / "log" / "mariadbd.log"),
        )
        self._mysql(
            "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';"
            " GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
        )

    def _write_slurm_conf(self) -> None:
        hardware = _run(["slurmd", "-C"], timeout=30).stdout
        cpus = int(re.search(r"\bCPUs=(\d+)", hardware).group(1))
        memory = int(re.search(r"\bRealMemory=(\d+)", hardware).group(1))
        # slurmd drains a node that has less than configured unless told to trust the configuration.
        overrides = "SlurmdParameters=config_overrides" if cpus < self.min_cpus or memory < self.min_memory_mb else ""
        cpus, memory = max(cpus, self.min_cpus), max(memory, self.min_memory_mb)
        self.node_cpus = cpus
        partitions = "".join(
            f"PartitionName={name} Nodes=ALL Default=NO {options} State=UP\n" for name, options in self.extra_partitions
        )
        devices = [self.root / "dev" / f"gpu{index}" for index in range(self.gpus)]
        for device in devices:
            # A character device (the numbers of /dev/null): slurmd drops GRES entries without a file.
            _run(["mknod", device, "c", "1", "3"], timeout=10)
        root = self.root
        munge = f"AuthInfo=socket={self.munge_socket}"
        self.conf.write_text(
            f"""# Generated by tests/cluster/slurm_cluster.py: a one-node test cluster (no cgroups, no systemd).
ClusterName={CLUSTER}
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={self.ports['slurmctld']}
SlurmdPort={self.ports['slurmd']}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
{munge}
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool'}
SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}
SlurmdPidFile={root / 'run' / 'slurmd.pid'}
SlurmctldLogFile={root / 'log' / 'slurmctld.log'}
SlurmdLogFile={root / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/builtin
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={self.ports['slurmdbd']}
# The munge socket for slurmdbd connections (AuthInfo covers the others; the default is munge's own).
AccountingStoragePass={self.munge_socket}
AccountingStorageTRES=gres/gpu
# As on most real clusters: a job's account must be one the user is associated with (sbatch,
# --test-only included, rejects others; without this SLURM accepts any account).
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
KillWait=5
InactiveLimit=0
MailProg=/bin/true
{overrides}
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} Gres=gpu:{self.gpus} State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
{partitions}"""
        )
        (root / "etc" / "gres.conf").write_text(
            "AutoDetect=off\n" + "".join(f"NodeName={self.host} Name=gpu File={device}\n" for device in devices)
        )
        dbd = root / "etc" / "slurmdbd.conf"
        dbd.write_text(f"""# Generated by tests/cluster/slurm_cluster.py
{munge}
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={self.ports['slurmdbd']}
SlurmUser=root
PidFile={root / 'run' / 'slurmdbd.pid'}
LogFile={root / 'log' / 'slurmdbd.log'}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.ports['mysql']}
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
""")
        dbd.chmod(0o600)  # slurmdbd refuses a readable file holding the database password
        self._link_default_conf()

    def _link_default_conf(self) -> None:
        if DEFAULT_CONF.is_symlink():
            clear_leftover_link()
        if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
            raise ClusterError(
                f"{DEFAULT_CONF} already exists (a real SLURM setup?); refusing to replace it with the test cluster's"
            )
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self._own_default_conf = True

    def _start_slurmdbd(self) -> None:
        self._spawn("slurmdbd", ["slurmdbd", "-D"])

        def ready():
            self._alive("slurmdbd")
            return (
                _run(["sacctmgr", "-n", "-P", "show", "cluster"], timeout=15, env=self.env(), check=False).returncode
                == 0
            )

        _wait_until(
            "slurmdbd to answer sacctmgr",
            ready,
            self.step_timeout,
            interval=1,
            diagnose=lambda: _tail(self.root / "log" / "slurmdbd.log"),
        )

    def _register_accounts(self) -> None:
        user = pwd.getpwuid(os.geteuid()).pw_name
        for args in (
            ["add", "cluster", CLUSTER],
            *(
                ["add", "account", name, f"Cluster={CLUSTER}", "Description=test", "Organization=test"]
                for name in (ACCOUNT, *self.extra_accounts)
            ),
            ["add", "user", user, f"Account={ACCOUNT}", f"Cluster={CLUSTER}", f"DefaultAccount={ACCOUNT}"],
        ):
            _run(["sacctmgr", "-i", *args], timeout=self.step_timeout, env=self.env())

    def _node_state(self) -> str:
        done = _run(["sinfo", "-h", "-N", "-o", "%T"], timeout=15, env=self.env(), check=False)
        return done.stdout.strip() if done.returncode == 0 else f"sinfo failed: {done.stderr.strip()}"

    def _drain_reason(self) -> str:
        done = _run(["sinfo", "-h", "-R"], timeout=15, env=self.env(), check=False)
        return f"Reasons: {done.stdout.strip()}" if done.stdout.strip() else ""

    # ----------------------------------------------------------------------------------------
    def queue(self, workdir: Path | str | None = None) -> list[dict[str, str]]:
        """Jobs still pending or running (all, or those whose working directory is ``workdir``):
        id, state (PENDING, RUNNING, ...), seconds (time running so far) and workdir."""
        done = _run(["squeue", "-h", "-o", "%i|%T|%M|%Z"], timeout=30, env=self.env())
        jobs = []
        for line in done.stdout.splitlines():
            job_id, state, elapsed, job_workdir = line.split("|", 3)
            if workdir is None or Path(job_workdir) == Path(workdir):
                jobs.append({"id": job_id, "state": state, "seconds": _seconds(elapsed), "workdir": job_workdir})
        return jobs

    def wait_queue_empty(self, timeout: float, workdir: Path | str | None = None) -> None:
        _wait_until(
            "the SLURM queue to drain" + (f" of jobs in {workdir}" if workdir else ""),
            lambda: not self.queue(workdir),
            timeout,
            interval=1,
            diagnose=lambda: f"still queued: {self.queue(workdir)}",
        )

    def sacct_jobs(self) -> list[SacctJob]:
        """Every job of this cluster's accounting (allocations only, not steps), with its rule name
        taken from the comment that the Snakemake SLURM executor sets (rule_<name>_wildcards_...)."""
        done = _run(
            [
                "sacct",
                "-a",
                "-X",
                "-n",
                "-P",
                "--starttime=2000-01-01",
                "-o",
                "JobID,State,Partition,Account,AllocTRES,TimelimitRaw,ReqMem,ReqCPUS,WorkDir,Comment",
            ],
            timeout=30,
            env=self.env(),
        )
        jobs = []
        for line in done.stdout.splitlines():
            job_id, state, partition, account, tres, limit, memory, cpus, workdir, comment = line.split("|", 9)
            match = re.match(r"rule_(.+?)(_wildcards_.*)?$", comment)
            jobs.append(
                SacctJob(
                    job_id,
                    match.group(1) if match else "",
                    state,
                    partition,
                    account,
                    tres,
                    comment,
                    workdir,
                    int(limit) if limit.isdigit() else None,
                    _megabytes(memory),
                    int(cpus),
                )
            )
        return jobs

    # ----------------------------------------------------------------------------------------
    def stop(self, timeout: float = 30) -> None:
        """Cancel leftover jobs, stop the daemons this object started (by PID, newest first) and
        remove the /etc/slurm/slurm.conf link. Safe to call twice and after a failed start."""
        if any(name == "slurmctld" and process.poll() is None for name, process in self.processes):
            _run(
                ["scancel", "--full", "-u", pwd.getpwuid(os.geteuid()).pw_name], timeout=30, env=self.env(), check=False
            )
            try:
                self.wait_queue_empty(timeout=20)
            except ClusterError:
                pass  # the daemons are stopped below anyway
        for name, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self.processes.clear()
        if self._own_default_conf and DEFAULT_CONF.is_symlink():
            DEFAULT_CONF.unlink()
            self._own_default_conf = False

    def cleanup(self) -> None:
        """Remove the temp directory (after stop)."""
        shutil.rmtree(self.root, ignore_errors=True)
