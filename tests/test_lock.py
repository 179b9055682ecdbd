"""kernel/lock.py: one flock serialises the runs that change the system (issue #13 item 6).
Unprivileged: the lock lives in a temporary state directory."""

import os
import subprocess
import sys

import pytest

from ifupdown_agg.core import record
from ifupdown_agg.kernel import lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HOLD = """
import sys, time
from ifupdown_agg.kernel import lock
with lock.held("ifagg up tun9"):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    monkeypatch.setenv("IFUPDOWN_AGG_STATE_DIR", str(tmp_path))
    return tmp_path


def _holder(seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(seconds)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_waiter_gives_up_naming_the_holder(state):
    proc = _holder(30)
    try:
        said = []
        with pytest.raises(lock.LockTimeout) as err:
            with lock.held("ifagg down tun9", timeout=0.3, say=said.append):
                pytest.fail("the lock was held by the other process")
        text = str(err.value)
        assert f"pid {proc.pid} (ifagg up tun9)" in text and "nothing was changed" in text
        assert str(state / "lock") in text
    finally:
        proc.kill()
        proc.wait(10)


def test_a_waiter_says_what_it_waits_for_and_gets_the_lock_after(state, monkeypatch):
    monkeypatch.setattr(lock, "SAY_AFTER", 0.0)
    proc = _holder(0.5)
    said = []
    with lock.held("ifagg down tun9", timeout=20, say=said.append):
        assert proc.poll() is not None or proc.wait(10) == 0
    assert said and "waiting for pid" in said[0] and "ifagg up tun9" in said[0]
    proc.wait(10)


def test_the_lock_is_reentrant_within_a_run_and_released_after(state):
    with lock.held("outer"):
        with lock.held("inner", timeout=0):
            pass
        assert lock._depth[0] == 1
    assert lock._depth[0] == 0
    # Released: another process gets it at once.
    proc = _holder(0)
    assert proc.wait(10) == 0


def test_give_up_ends_the_wait_at_once(state):
    proc = _holder(30)
    try:
        asked = []
        with pytest.raises(lock.LockTimeout):
            with lock.held("monitor", timeout=300, give_up=lambda: asked.append(1) or True):
                pass
        assert asked == [1]         # the first wait step gave up
    finally:
        proc.kill()
        proc.wait(10)


def test_a_started_process_does_not_inherit_the_lock(state):
    with lock.held("ifagg up tun9"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        proc = _holder(0)        # would block if the child kept the lock open
        assert proc.wait(10) == 0
    finally:
        child.kill()
        child.wait(10)
