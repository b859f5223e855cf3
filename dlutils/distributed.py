"""Start, watch and stop local worker processes for multi-worker training on one machine (notebook 13).

``tf.distribute.MultiWorkerMirroredStrategy`` learns who its peers are from the ``TF_CONFIG`` environment
variable of each worker process. This module hides that plumbing (free loopback ports, one ``TF_CONFIG`` per
worker, log files, time limits, stopping by PID), so that the notebook can show the lesson, not the process
management::

    import dlutils as du
    with du.distributed.Workers(["scripts/multiworker_train.py", "--epochs", "3"], n=2, timeout=120) as group:
        codes = group.wait()            # [0, 0], or None for a worker stopped at the time limit
        print(group.log(0))             # what worker 0 printed

Every worker listens on 127.0.0.1 only; every process is stopped by its own PID (``Popen.kill``) when the
time limit passes, when ``stop()``/``kill()`` is called, or when the ``with`` block ends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that are free right now: ``free_ports(2) -> [40211, 38977]``.

    All sockets are held open together while the ports are chosen, so the ports differ from each other.
    (Another program could still take one before a worker binds it; the window is short.)
    """
    if n < 1:
        raise ValueError(f"free_ports(n={n}): n must be at least 1")
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: Sequence[int], index: int, job: str = "worker") -> str:
    """The ``TF_CONFIG`` JSON of worker ``index`` in a loopback cluster with one worker per port::

        tf_config([40211, 38977], 1)
        -> '{"cluster": {"worker": ["127.0.0.1:40211", "127.0.0.1:38977"]}, "task": {"type": "worker", "index": 1}}'
    """
    if not 0 <= index < len(ports):
        raise ValueError(f"index {index} is not a worker of a {len(ports)}-worker cluster")
    cluster = {job: [f"{LOOPBACK}:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": job, "index": index}})


class Workers:
    """``n`` copies of one Python script, each with its own ``TF_CONFIG``, run as child processes.

    ``args`` is the script and its arguments (run with this Python interpreter); ``timeout`` bounds the
    whole group in seconds (``wait()`` stops what is still running when it passes); ``extra_env`` adds
    environment variables for the workers; their output goes to ``log_dir/worker<i>.log``.
    """

    def __init__(
        self,
        args: Sequence[str],
        n: int = 2,
        timeout: float = 120.0,
        log_dir: str | Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        if n < 1:
            raise ValueError(f"Workers(n={n}): n must be at least 1")
        if timeout <= 0:
            raise ValueError(f"Workers(timeout={timeout}): the time limit must be positive")
        self.args = [str(a) for a in args]
        self.n = n
        self.timeout = float(timeout)
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="workers_"))
        self.extra_env = dict(extra_env or {})
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen] = []
        self._deadline = 0.0

    # -- start ------------------------------------------------------------------------------------------
    def start(self) -> Workers:
        """Choose free ports and start every worker; returns self."""
        if self.procs:
            raise RuntimeError("these workers were already started")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.ports = free_ports(self.n)
        self._deadline = time.monotonic() + self.timeout
        for i in range(self.n):
            env = os.environ.copy()  # the child inherits this process's settings (e.g. DLUTILS_DATA_DIR) ...
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            env.update(self.extra_env)
            env["TF_CONFIG"] = tf_config(self.ports, i)  # ... plus its own place in the cluster
            with open(self.log_path(i), "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, *self.args], stdout=log, stderr=subprocess.STDOUT, env=env
                )
            self.procs.append(proc)
        return self

    def __enter__(self) -> Workers:
        return self.start() if not self.procs else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- watch ------------------------------------------------------------------------------------------
    @property
    def pids(self) -> list[int]:
        """Process ids of the workers, in worker order."""
        return [p.pid for p in self.procs]

    def log_path(self, index: int) -> Path:
        return self.log_dir / f"worker{index}.log"

    def log(self, index: int) -> str:
        """Everything worker ``index`` printed so far (stdout and stderr)."""
        path = self.log_path(index)
        return path.read_text(errors="replace") if path.exists() else ""

    def seconds_left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def wait_for(self, text: str, index: int = 0, poll: float = 0.05) -> bool:
        """Wait until worker ``index`` prints ``text``; False if it exits or the time limit passes first."""
        while self.seconds_left() > 0:
            if text in self.log(index):
                return True
            if self.procs[index].poll() is not None:
                return text in self.log(index)
            time.sleep(poll)
        return False

    def wait(self) -> list[int | None]:
        """Wait for every worker until the time limit; stop the ones still running then.

        Returns the exit codes in worker order, with None for a worker that had to be stopped.
        """
        codes: list[int | None] = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=self.seconds_left() or 0.01))
            except subprocess.TimeoutExpired:
                codes.append(None)
        self.stop()
        return codes

    # -- stop -------------------------------------------------------------------------------------------
    def kill(self, index: int) -> int:
        """Kill worker ``index`` at once (SIGKILL to its PID, like a machine that dies); returns the PID."""
        proc = self.procs[index]
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        return proc.pid

    def stop(self, grace: float = 3.0) -> None:
        """Terminate every worker still running (SIGTERM to its PID), then kill it after ``grace`` seconds."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        end = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.01, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
