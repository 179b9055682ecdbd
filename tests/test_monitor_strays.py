"""A monitor no pid file names (its hook was killed right after starting it) is still
found, by its command line in this network namespace, and stopped. Unprivileged: the
"monitor" is a sleeping Python whose argv looks like one."""

import subprocess
import sys

from ifupdown_agg.core import record
from ifupdown_agg.monitor import service


def test_command_lines_of_a_monitor():
    assert service._monitor_of([b"/usr/bin/python3", b"-m", b"ifupdown_agg", b"monitor", b"tun0"]) == "tun0"
    assert service._monitor_of([b"/usr/bin/python3", b"/usr/bin/ifagg", b"monitor", b"tun1", b""]) == "tun1"
    assert service._monitor_of([b"/usr/bin/python3", b"/usr/bin/ifagg", b"status", b"tun1"]) is None
    assert service._monitor_of([b"monitor"]) is None


def test_a_monitor_without_its_pid_file_is_found_and_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(service, "_systemd_unit_available", lambda: False)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "ifupdown_agg", "monitor", "tunstray9"])
    try:
        for _ in range(200):                 # bounded: until its argv is the new one
            if proc.pid in service.strays(["tunstray9"]):
                break
            subprocess.run(["sleep", "0.01"])
        assert service.strays(["tunstray9"]) == {proc.pid: "tunstray9"}
        assert service.strays(["tun0"]) == {}
        assert service.running_pid("tunstray9") is None       # no pid file names it
        service.stop("tunstray9", wait=5)
        assert proc.wait(10) is not None
        assert service.strays(["tunstray9"]) == {}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
