"""The post-up hook killed with SIGKILL at many points of its run, then the down hooks
(as `ifdown --force` runs them) and `ifagg cleanup --all`: nothing of ours is left,
no rule, route, nft table, tun device, monitor or file in /run, and rp_filter is back
(issue #13 "How it is checked"). The same with the record in /run deleted after the
kill (rp_filter cannot come back then: only the record knew its old value).

The kill points are spread evenly over the part of one measured post-up run that
changes things (from its record written ahead to its end: the kernel changes, the
record, the monitor's start); IFAGG_FAULT_POINTS sets how many (default 16, each its
own test)."""

import os
import signal
import subprocess
import time

import pytest

from lab.cluster import CONFIGFS, Lab

pytestmark = pytest.mark.root

POINTS = int(os.environ.get("IFAGG_FAULT_POINTS", "16"))

STANZA = """\
iface tun7 inet static
    address 198.19.7.1
    fakenet 198.19.7.0/24
    table 17000 17001
    rspec 198.19.7.1:198.18.70.1:198.18.71.1 198.19.7.2:198.18.70.2:198.18.71.2
    agg-weights 1 3
"""
ENV = {"IFACE": "tun7", "LOGICAL": "tun7", "ADDRFAM": "inet", "METHOD": "static",
       "IF_ADDRESS": "198.19.7.1", "IF_FAKENET": "198.19.7.0/24", "IF_TABLE": "17000 17001",
       "IF_RSPEC": "198.19.7.1:198.18.70.1:198.18.71.1 198.19.7.2:198.18.70.2:198.18.71.2",
       "IF_AGG_WEIGHTS": "1 3"}


def _hook_cmd(h, phase):
    env = dict(ENV, PHASE=phase, MODE="start" if phase in ("pre-up", "post-up") else "stop")
    cmd = ["env"] + [f"{k}={v}" for k, v in env.items()] + ["/usr/local/sbin/ifagg", "hook"]
    d = h.dir
    binds = (f"mount --bind {d}/etc-network /etc/network && mount --bind {d}/run /run && "
             f"mount --bind {d}/sbin /usr/local/sbin && ")
    if os.path.ismount(CONFIGFS):
        binds += f"mount -t configfs configfs {CONFIGFS} && "
    return ["ip", "netns", "exec", h.ns, "unshare", "-m", "--propagation", "private",
            "sh", "-c", binds + 'exec "$@"', "_"] + cmd


def _started(h, proc) -> float:
    """When the run began to change things: its record, written ahead, names a rule."""
    path = f"{h.dir}/run/ifupdown-agg/tun7.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:     # bounded
        try:
            with open(path, "rb") as fh:
                if b'"rule"' in fh.read():
                    break
        except OSError:
            pass
        time.sleep(0.002)
    return time.monotonic()


def _hook(h, phase):
    return subprocess.run(_hook_cmd(h, phase), capture_output=True, text=True, timeout=120)


def _rp(h):
    return h.run(["sysctl", "-n", "net.ipv4.conf.eth1.rp_filter"]).stdout.strip()


def _state_files(h):
    path = f"{h.dir}/run/ifupdown-agg"
    return sorted(f for f in os.listdir(path) if f != "lock") if os.path.isdir(path) else []


def _monitor_pids(h):
    """Our monitors in the host's namespace."""
    pids = subprocess.run(["ip", "netns", "pids", h.ns], capture_output=True,
                          text=True).stdout.split()
    mine = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"monitor" in fh.read():
                    mine.append(pid)
        except OSError:
            pass
    return mine


@pytest.fixture(scope="module")
def host():
    with Lab("f") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
        a.write_interfaces(STANZA)
        a.sh("sysctl -qw net.ipv4.conf.eth1.rp_filter=1")
        # One whole run, to spread the kill points over it.
        assert _hook(a, "pre-up").returncode == 0
        proc = subprocess.Popen(_hook_cmd(a, "post-up"), stdout=subprocess.DEVNULL)
        start = _started(a, proc)
        assert proc.wait(120) == 0
        a.duration = time.monotonic() - start
        assert a.our_objects() and _rp(a) == "2"
        assert _hook(a, "pre-down").returncode == 0 and _hook(a, "post-down").returncode == 0
        assert a.our_objects() == [] and _rp(a) == "1" and _state_files(a) == []
        yield a


@pytest.mark.parametrize("lose_record", [False, True], ids=["record", "record-deleted"])
@pytest.mark.parametrize("point", range(POINTS))
def test_a_killed_post_up_leaves_nothing_after_ifdown_and_cleanup(host, point, lose_record):
    assert _hook(host, "pre-up").returncode == 0
    proc = subprocess.Popen(_hook_cmd(host, "post-up"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _started(host, proc)
    time.sleep(host.duration * point / POINTS)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    if lose_record:
        with_record = f"{host.dir}/run/ifupdown-agg/tun7.json"
        if os.path.exists(with_record):
            os.unlink(with_record)
    _hook(host, "pre-down")
    _hook(host, "post-down")
    host.ifagg("cleanup", "--all")
    assert host.our_objects() == []
    assert _state_files(host) == []
    if not lose_record:
        assert _rp(host) == "1"
    host.sh("sysctl -qw net.ipv4.conf.eth1.rp_filter=1")
    deadline = time.monotonic() + 10
    while _monitor_pids(host) and time.monotonic() < deadline:     # bounded
        time.sleep(0.1)
    assert _monitor_pids(host) == []


@pytest.mark.parametrize("lose_record", [False, True], ids=["record", "record-deleted"])
def test_cleanup_alone_stops_the_monitor_restores_and_removes_the_records(host, lose_record):
    """No ifdown at all: cleanup does the whole job (the monitor, rp_filter, /run)."""
    assert _hook(host, "pre-up").returncode == 0 and _hook(host, "post-up").returncode == 0
    assert _monitor_pids(host) and _rp(host) == "2"
    if lose_record:
        os.unlink(f"{host.dir}/run/ifupdown-agg/tun7.json")
    out = host.ifagg("cleanup", "--all").stdout
    assert "stop the link monitor of tun7" in out
    assert host.our_objects() == [] and _state_files(host) == [] and _monitor_pids(host) == []
    if not lose_record:
        assert _rp(host) == "1"
    host.sh("sysctl -qw net.ipv4.conf.eth1.rp_filter=1")
