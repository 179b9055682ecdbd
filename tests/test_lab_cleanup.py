"""The lab removes its namespaces when its process is sent SIGTERM (timeout(1), kill):
a benchmark killed so had left them in place."""

import os
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOLD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from lab.cluster import Lab
with Lab("sigterm") as lab:
    lab.host("a")
    print(lab.tag, flush=True)
    time.sleep(60)
"""


def test_sigterm_removes_the_labs_namespaces():
    proc = subprocess.Popen([sys.executable, "-c", HOLD, REPO], stdout=subprocess.PIPE, text=True)
    try:
        tag = proc.stdout.readline().strip()
        assert tag.startswith("sigterm")
        assert f"{tag}-a" in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                            text=True).stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert tag not in left, left
