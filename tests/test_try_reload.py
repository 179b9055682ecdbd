"""`ifagg try`, `ifagg confirm` and `ifagg reload` against a real kernel in namespaces.

try: a confirmation keeps the change; a timeout, or a terminal that hangs up, puts back
exactly the state before (rules, routes, nft, the records); a second try is refused
while one is pending. reload: after editing one of three stanzas only that one changes
(`ip monitor link` sees no event for the others, and sees the deleted one go), and a deleted stanza goes.
Bonds need the VM tier: try on a bond is tested on the in-memory kernel
(tests/test_try_memory.py).
"""

import glob
import json
import os
import pty
import select
import subprocess
import time

import pytest

from lab.cluster import Lab

pytestmark = pytest.mark.root


def stanza(n, tables=None, weights="1 3", extra=""):
    tables = tables or f"{17000 + 10 * n} {17001 + 10 * n}"
    return (f"auto tun{n}\n"
            f"iface tun{n} inet static\n"
            f"    address 198.19.{n}.1\n"
            f"    fakenet 198.19.{n}.0/24\n"
            f"    table {tables}\n"
            f"    rspec 198.19.{n}.1:198.18.70.1:198.18.71.1 198.19.{n}.2:198.18.70.2:198.18.71.2\n"
            f"    agg-weights {weights}\n{extra}")


@pytest.fixture
def lab():
    with Lab("t") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
        a.sh("sysctl -qw net.ipv4.conf.eth1.rp_filter=1")
        yield lab


def command(host, *args):
    d = host.dir
    binds = (f"mount --bind {d}/etc-network /etc/network && mount --bind {d}/run /run && "
             f"mount --bind {d}/sbin /usr/local/sbin && exec \"$@\"")
    return (["ip", "netns", "exec", host.ns, "unshare", "-m", "--propagation", "private",
             "sh", "-c", binds, "_", "/usr/local/sbin/ifagg"] + list(args))


def start(lab, host, *args, **popen):
    popen.setdefault("stdin", subprocess.DEVNULL)
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.STDOUT)
    proc = subprocess.Popen(command(host, *args), text=True, **popen)
    lab._procs.append(proc)     # killed by Lab.close if a test fails
    return proc


def state(host):
    return f"{host.dir}/run/ifupdown-agg"


def wait_pending(host, proc):
    for _ in range(300):        # bounded: 30 s
        if os.path.exists(f"{state(host)}/try.pending"):
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.1)
    pytest.fail("the try never became pending")


def view(host):
    """The kernel's view of everything a try may change, and the records."""
    kernel = host.sh("ip -4 -o rule show; ip -4 -o route show table all; nft list ruleset;"
                     " ip -o link show type tun | cut -d: -f2-;"
                     " for d in $(ls /sys/class/net); do tc filter show dev $d egress; done;"
                     " sysctl net.ipv4.conf.eth1.rp_filter net.ipv4.conf.eth0.rp_filter").stdout
    # The BPF spreader's maps, by the program's filter (what a revert must write back).
    kernel += host.sh("for id in $(for d in $(ls /sys/class/net); do tc filter show dev $d egress;"
                      " done | sed -n 's/.* id \\([0-9]*\\) .*/\\1/p'); do"
                      " for m in $(bpftool prog show id $id | sed -n 's/.*map_ids //p' | tr , ' ');"
                      " do bpftool map dump id $m; done; done", check=False).stdout
    records = {}
    for path in sorted(glob.glob(f"{state(host)}/*.json")):
        if not path.endswith(".health.json"):
            with open(path, "rb") as fh:
                records[os.path.basename(path)] = fh.read()
    return kernel, records


# Both spreaders: nft (the table is rewritten) and the BPF spreader (its map and filter).
@pytest.mark.parametrize("spread", ["nft", "bpf"])
def test_a_timeout_puts_back_exactly_the_state_before(lab, spread):
    a = lab.hosts["a"]
    extra = f"    agg-spread {spread}\n"
    a.write_interfaces(stanza(7, extra=extra))
    a.ifagg("up", "tun7")
    before = view(a)
    assert ("table ip ifagg_tun7" in before[0]) == (spread == "nft")
    assert ("bpf chain" in before[0]) == (spread == "bpf")
    a.write_interfaces(stanza(7, tables="17070 17072", weights="1 1", extra=extra))
    res = a.ifagg("try", "--timeout", "1", "tun7", check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "ip rule add" in res.stdout and "lookup 17072" in res.stdout
    assert (spread == "nft") == ("nft" in res.stdout.lower()), res.stdout
    assert "reverted (no confirmation within 1 s)" in res.stdout
    assert "still different" not in res.stdout
    assert view(a) == before
    assert not os.path.exists(f"{state(a)}/try.pending")
    a.ifagg("down", "tun7")
    assert a.our_objects() == []


def test_confirm_keeps_and_a_second_try_is_refused_while_one_is_pending(lab):
    a = lab.hosts["a"]
    a.write_interfaces(stanza(7))
    proc = start(lab, a, "try", "--timeout", "60", "tun7")
    wait_pending(a, proc)
    second = a.ifagg("try", "-a", check=False)
    assert second.returncode == 1 and "a try is already pending" in second.stderr
    assert a.ifagg("confirm").stdout.strip() == "kept: tun7"
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert "kept (ifagg confirm)" in out
    assert json.loads(a.ifagg("check", "--json").stdout)["in_sync"] is True
    assert a.ifagg("confirm", check=False).returncode == 1       # nothing pending now
    a.ifagg("down", "tun7")
    assert a.our_objects() == []


def on_a_terminal(lab, host, *args):
    """A try whose controlling terminal is a pty, as under a login shell or SSH: setsid
    --ctty makes it a session leader with the pty as its terminal. Returns the process
    and the pty's master, once the try asks for the confirmation."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(["setsid", "--ctty"] + command(host, "try", *args),
                                stdin=slave, stdout=slave, stderr=slave)
        lab._procs.append(proc)
    finally:
        os.close(slave)
    seen = b""
    for _ in range(300):        # bounded: read until the prompt, 30 s at most
        if b"Keep these changes?" in seen:
            break
        if select.select([master], [], [], 0.1)[0]:
            seen += os.read(master, 4096)
    assert b"or press Enter" in seen, seen
    return proc, master


def test_a_terminal_that_hangs_up_reverts(lab):
    a = lab.hosts["a"]
    a.write_interfaces(stanza(7))
    before = view(a)
    proc, master = on_a_terminal(lab, a, "--timeout", "60", "tun7")
    assert a.our_objects() != []
    os.close(master)            # the terminal goes: the kernel hangs the session up
    proc.wait(timeout=30)
    assert proc.returncode == 1
    with open(f"{state(a)}/try.last") as fh:
        assert json.load(fh)["outcome"] == "reverted"
    assert view(a) == before
    assert a.our_objects() == []


def test_enter_on_the_terminal_keeps(lab):
    a = lab.hosts["a"]
    a.write_interfaces(stanza(7))
    proc, master = on_a_terminal(lab, a, "--timeout", "60", "tun7")
    try:
        os.write(master, b"\n")
        proc.wait(timeout=30)
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert json.loads(a.ifagg("check", "--json").stdout)["in_sync"] is True
    a.ifagg("down", "tun7")
    assert a.our_objects() == []


def link_events(proc, marker, seconds=20.0, fail=True):
    """Lines from `ip monitor link` up to the one MARKER(line) is true for (bounded)."""
    lines = []
    deadline = time.monotonic() + seconds
    buf = ""
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536).decode()
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split("\n")
            lines += done
            if any(marker(ln) for ln in done):
                return lines
    if fail:
        pytest.fail(f"no link event: {lines}")
    return None


def listening(host, mon):
    """Wait until `ip monitor link` reports events: it may subscribe after it starts."""
    for k in range(10):     # bounded
        host.run(["ip", "link", "add", f"mark{k}", "type", "veth", "peer", "name", f"peer{k}"])
        if link_events(mon, lambda ln: f"mark{k}" in ln, seconds=2, fail=False) is not None:
            return f"mark{k}"
        host.run(["ip", "link", "del", f"mark{k}"])
    pytest.fail("ip monitor link never reported an event")


def test_reload_changes_only_the_edited_stanza_and_removes_a_deleted_one(lab):
    a = lab.hosts["a"]
    off = "    agg-monitor off\n"
    a.write_interfaces("".join(stanza(n, extra=off) for n in (1, 2, 3)))
    res = a.ifagg("reload", "-a")
    assert [ln.split(":")[0] for ln in res.stdout.splitlines()] == ["tun1", "tun2", "tun3"]
    assert a.ifagg("reload", "-a").stdout.splitlines() == [
        "tun1: unchanged", "tun2: unchanged", "tun3: unchanged"]
    tun1 = [o for o in a.our_objects() if "tun1" in o or "1701" in o]

    mon = lab.spawn(a, ["ip", "-o", "monitor", "link"])
    mark = listening(a, mon)
    a.write_interfaces(stanza(1, extra=off)
                       + stanza(2, extra=off + "    agg-gso-max-segs 16\n"))
    res = a.ifagg("reload", "-a")
    a.run(["ip", "link", "del", mark])
    events = link_events(mon, lambda ln: "Deleted" in ln and mark in ln)
    # 6 objects with nft marking; the BPF spreader goes with its device, so 5 with bpf.
    lines = res.stdout.splitlines()
    assert lines[0] in ("tun3: removed from the file: 6 object(s) taken down",
                        "tun3: removed from the file: 5 object(s) taken down"), res.stdout
    assert lines[1:] == ["tun1: unchanged", "tun2: changed, 1 change(s)"], res.stdout
    assert not [e for e in events if "tun1" in e], events
    assert "gso_max_segs 16 " in a.run(["ip", "-d", "link", "show", "tun2"]).stdout
    assert [e for e in events if "Deleted" in e and "tun3" in e], events
    assert [o for o in a.our_objects() if "tun1" in o or "1701" in o] == tun1
    assert not [o for o in a.our_objects() if "tun3" in o or "1703" in o]
    assert not os.path.exists(f"{state(a)}/tun3.json")
    for n in (1, 2):
        a.ifagg("down", f"tun{n}")
    assert a.our_objects() == []


def test_reload_restarts_the_monitor_when_only_its_options_changed(lab):
    a = lab.hosts["a"]
    a.write_interfaces(stanza(7))
    a.ifagg("reload", "-a")
    pidfile = f"{state(a)}/tun7.monitor.pid"
    with open(pidfile) as fh:
        first = fh.read().strip()
    assert a.ifagg("reload", "-a").stdout.strip() == "tun7: unchanged"
    a.write_interfaces(stanza(7, extra="    agg-probe-interval 200\n"))
    out = a.ifagg("reload", "-a").stdout.strip()
    assert out == "tun7: changed, the link monitor restarted with the new options"
    with open(pidfile) as fh:
        assert fh.read().strip() != first
    assert a.status("tun7")["monitor"]["interval_ms"] == 200
    a.ifagg("down", "tun7")
    assert a.our_objects() == []
