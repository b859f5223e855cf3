"""dlutils.distributed: free ports, TF_CONFIG, and worker processes bounded in time and stopped by PID."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dlutils.distributed import Workers, free_ports, tf_config

ECHO = """
import json, os, sys
config = json.loads(os.environ["TF_CONFIG"])
print("worker", config["task"]["index"], "of", len(config["cluster"]["worker"]), "args", sys.argv[1:], flush=True)
"""

SLEEPER = """
import time
print("ready", flush=True)
time.sleep(60)
"""


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_free_ports_are_distinct_loopback_ports():
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(1024 <= p <= 65535 for p in ports)
    with pytest.raises(ValueError):
        free_ports(0)


def test_tf_config_names_every_worker_and_the_task():
    config = json.loads(tf_config([1111, 2222], 1))
    assert config == {"cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError):
        tf_config([1111, 2222], 2)


def test_workers_get_their_own_tf_config_and_finish(tmp_path):
    with Workers([script(tmp_path, "echo.py", ECHO), "--x", "1"], n=2, timeout=60, log_dir=tmp_path / "logs") as group:
        codes = group.wait()
    assert codes == [0, 0]
    assert len(set(group.pids)) == 2 and len(set(group.ports)) == 2
    assert "worker 0 of 2 args ['--x', '1']" in group.log(0)
    assert "worker 1 of 2" in group.log(1)


def test_time_limit_stops_workers(tmp_path):
    group = Workers([script(tmp_path, "sleep.py", SLEEPER)], n=2, timeout=3, log_dir=tmp_path / "logs")
    t0 = time.monotonic()
    with group:
        assert group.wait_for("ready", index=1)
        codes = group.wait()
    assert codes == [None, None]  # stopped at the limit, not finished
    assert time.monotonic() - t0 < 20
    assert all(p.poll() is not None for p in group.procs)


def test_kill_one_worker_by_pid(tmp_path):
    with Workers([script(tmp_path, "sleep.py", SLEEPER)], n=2, timeout=30, log_dir=tmp_path / "logs") as group:
        assert group.wait_for("ready", index=0)
        pid = group.kill(0)
        assert pid == group.pids[0] and group.procs[0].returncode != 0
        assert group.procs[1].poll() is None  # the other worker is untouched until the block ends
    assert group.procs[1].poll() is not None


def test_bad_arguments():
    with pytest.raises(ValueError):
        Workers(["x.py"], n=0)
    with pytest.raises(ValueError):
        Workers(["x.py"], timeout=0)
