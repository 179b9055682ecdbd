"""The spreader's queue meters (issue #19), on real kernel objects: two hosts over two
shaped links, the overlay by real ifup with its defaults (bpf).

The spreader's program sits on each member NIC's tcx egress, keeping a virtual queue of
everything the NIC sends; check sees one detached, up mends it, ifdown leaves none, and
a program of a user's on the same hook keeps running. No test asserts a duration.
"""

import pytest

from lab.pair import VIRT, overlay_pair, stanza as pair_stanza
from lab.transfer import transfer

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]
LINKS = 2


def stanza(me: str) -> str:
    return pair_stanza(me, LINKS)


@pytest.fixture(scope="module")
def metered():
    with overlay_pair("meter", LINKS) as lab_a_b:
        yield lab_a_b


def meters(host):
    return sorted(ln.split(":")[0] for ln in host.meters_left())


def py(host, code: str) -> str:
    return host.run(["env", f"PYTHONPATH={host.lab.repo}", host.lab.python, "-c", code]).stdout


def test_every_member_nic_is_metered_at_its_rate(metered):
    lab, a, b = metered
    for h in (a, b):
        assert meters(h) == ["tcx egress eth0", "tcx egress eth1"]
        assert "queues metered on eth0, eth1" in h.ifagg("plan", "--verbose", "tun0", check=False).stdout \
            or h.ifagg("check", "tun0", check=False).returncode == 0
    rates = py(a, "from ifupdown_agg.kernel import bpf, meters\n"
                  "from ifupdown_agg.kernel.bpf_maps import Maps\n"
                  "m = Maps(bpf.prog_id('tun0'))\n"
                  "print(sorted(meters.rate_of(m.meter(k)) for k in m.meter_keys()))")
    assert rates.strip() == "[100, 100]"
    result = transfer(lab, a, b, VIRT["b"], megabytes=10)
    assert result["intact"], result


def test_check_sees_a_meter_detached_and_up_mends_it(metered):
    lab, a, b = metered
    py(a, "from ifupdown_agg.kernel import meters\n"
          "for nic, prog in meters.strays((), every=True):\n"
          "    if nic == 'eth1': meters.detach_from(nic, prog)")
    assert meters(a) == ["tcx egress eth0"]
    found = a.ifagg("check", "tun0", check=False)
    assert found.returncode == 1 and "spreader" in found.stdout, found.stdout
    a.ifagg("up", "tun0")
    assert meters(a) == ["tcx egress eth0", "tcx egress eth1"]
    assert a.ifagg("check", "tun0", check=False).returncode == 0
    assert "nothing to change" in a.ifagg("plan", "tun0").stdout


def test_cleanup_detaches_a_meter_whose_overlay_device_is_gone(metered):
    lab, a, b = metered
    a.ifdown("tun0")
    assert a.our_objects() == []
    a.ifup("tun0")
    # A crash that took the device: its program stays on the NICs, held by tcx.
    a.run(["ip", "link", "del", "tun0"])
    assert meters(a) == ["tcx egress eth0", "tcx egress eth1"]
    a.ifagg("cleanup", "tun0")
    assert a.our_objects() == []
    a.ifdown("tun0", check=False)       # ifupdown still has it up
    a.ifup("tun0")
    assert meters(a) == ["tcx egress eth0", "tcx egress eth1"]


# A user's own tcx program: "return next" (r0 = -1; exit), loaded and attached by bpf(2)
# in the host's namespace; it stays attached when this process exits. It is named
# `spread`, as ours is: only a program that also holds a meters map is taken for ours.
USER_PROGRAM = """
import ctypes, struct
from ifupdown_agg.kernel import meters
from ifupdown_agg.kernel.bpf_maps import _bpf
code = struct.pack('=BBhi', 0xb7, 0, 0, -1) + struct.pack('=BBhi', 0x95, 0, 0, 0)
insns = ctypes.create_string_buffer(code, len(code))
lic = ctypes.create_string_buffer(b'GPL')
attr = struct.pack('=IIQQIIQII16s', 3, 2, ctypes.addressof(insns), ctypes.addressof(lic),
                   0, 0, 0, 0, 0, b'spread')
fd, _ = _bpf(5, attr)
index = int(open('/sys/class/net/eth0/ifindex').read())
_bpf(8, struct.pack('=IIIII', index, fd, meters.TCX_EGRESS, 0, 0))
print(meters.attached(index)[-1])
"""


def test_a_users_program_on_the_same_hook_is_left_alone(metered):
    lab, a, b = metered
    user = int(py(a, USER_PROGRAM).strip())
    on_eth0 = ("from ifupdown_agg.kernel import meters\n"
               "print(meters.attached(int(open('/sys/class/net/eth0/ifindex').read())))")
    try:
        a.ifdown("tun0")
        assert str(user) in py(a, on_eth0) and a.our_objects() == []
        a.ifup("tun0")
        a.ifagg("cleanup", "--all")
        assert str(user) in py(a, on_eth0) and a.our_objects() == []
        a.ifdown("tun0", check=False)
        a.ifup("tun0")
        assert meters(a) == ["tcx egress eth0", "tcx egress eth1"]
        # Ours is first on the hook (BPF_F_BEFORE): it meters what the user's drops too.
        order = py(a, on_eth0)
        assert order.index(str(user)) > 0, order
    finally:
        py(a, "from ifupdown_agg.kernel import meters\n"
              f"meters.detach_from('eth0', {user})")


def test_ifdown_after_the_filter_was_deleted_leaves_no_meter(metered):
    lab, a, b = metered
    a.run(["tc", "filter", "del", "dev", "tun0", "egress", "prio", "173"])
    a.ifdown("tun0")
    assert a.our_objects() == []
    a.ifup("tun0")
    assert meters(a) == ["tcx egress eth0", "tcx egress eth1"]


def test_turning_the_meters_off_and_on_in_place(metered):
    lab, a, b = metered
    a.write_interfaces(stanza(VIRT["a"]) + "    agg-queue-meter off\n")
    a.ifagg("up", "tun0")
    assert meters(a) == [] and a.ifagg("check", "tun0", check=False).returncode == 0
    a.write_interfaces(stanza(VIRT["a"]))
    a.ifagg("up", "tun0")
    assert meters(a) == ["tcx egress eth0", "tcx egress eth1"]
    assert a.ifagg("check", "tun0", check=False).returncode == 0
