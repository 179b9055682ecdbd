"""core/nftcontent: a listing as nft prints it and the script we load reduce to one
normal form (issue #13 item 3: check reads the table, not the digest). Pure."""

from ifupdown_agg.core.nftcontent import differences, same_contents
from ifupdown_agg.overlay import nft_ruleset

TABLE = nft_ruleset.build("ifagg_tun0", "tun0", [(0, "10.99.255.1"), (2, "10.99.255.20")],
                          [10000, 10001, 10002], [2, 1, 2])


def _listing(script: str) -> str:
    """The script as `nft list table` prints it: counter values, hex marks, blank lines."""
    out = []
    for line in script.splitlines():
        if line.strip().startswith("counter ") and line.strip().endswith("{ }"):
            name = line.split()[1]
            out += [f"\tcounter {name} {{", "\t\tpackets 12 bytes 3456", "\t}", ""]
            continue
        for mark in (10000, 10001, 10002):
            line = line.replace(f"{mark} :", f"0x{mark:08x} :").replace(f": {mark},", f": 0x{mark:08x},")
            line = line.replace(f": {mark} }}", f": 0x{mark:08x} }}")
        out.append(line)
    return "\n".join(out)


def test_the_listing_of_the_script_is_the_same():
    assert same_contents(_listing(TABLE.script), TABLE.script)
    assert same_contents("", TABLE.script)         # unknown contents (planner cases)


def test_a_flushed_chain_differs_and_is_named():
    listing = _listing(TABLE.script)
    lines = listing.splitlines()
    rule = next(i for i, ln in enumerate(lines) if '"p2_t10000"' in ln)
    flushed = "\n".join(lines[:rule] + lines[rule + 1:])
    assert not same_contents(flushed, TABLE.script)
    [missing] = differences(flushed, TABLE.script)
    assert missing.startswith("meta mark set numgen inc mod 5") and '"p2_t10000"' in missing


def test_a_narrowed_rotation_passes_and_a_foreign_mark_does_not():
    narrowed = nft_ruleset.peer_rule(2, [10000, 10001, 10002], [10000, 10002], [2, 2])
    full = nft_ruleset.peer_rule(2, [10000, 10001, 10002], [10000, 10001, 10002], [2, 1, 2])
    assert full in TABLE.script
    assert same_contents(TABLE.script.replace(full, narrowed), TABLE.script)
    foreign = narrowed.replace("1 : 10002 }", "1 : 4242 }")
    assert foreign != narrowed
    assert not same_contents(TABLE.script.replace(full, foreign), TABLE.script)


def test_a_changed_counter_map_or_vmap_differs():
    assert not same_contents(TABLE.script.replace('"p2_t10001"', '"p0_t10001"'), TABLE.script)
    assert not same_contents(TABLE.script.replace("jump peer_2", "jump peer_0"), TABLE.script)
