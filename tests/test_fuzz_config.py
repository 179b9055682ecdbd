"""A fuzz of the interfaces reader and the whole-file validator (issue #13 "How it is
checked"): mutated files (token deletions, duplications, swaps, random bytes, NUL, CR,
long lines, unicode, huge numbers) each end in success or located errors, never in a
traceback. The seeds are tests/fuzz/seeds/; an input that once crashed is kept in
tests/fuzz/crashers/ and runs every time. Unprivileged, deterministic (a fixed seed).

IFAGG_FUZZ_CASES sets the number of mutants per seed (default 1000)."""

import os
import random

import pytest

from ifupdown_agg.config import across
from ifupdown_agg.errors import ConfigError

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
SEEDS = sorted(os.listdir(os.path.join(HERE, "seeds")))
CRASHERS = sorted(n for n in os.listdir(os.path.join(HERE, "crashers")) if not n.startswith("."))
CASES = int(os.environ.get("IFAGG_FUZZ_CASES", "1000"))

ODD = ["\x00", "\r", "\t", "\\", "#", ":", "/", "-", "²", "١", "𝟗", "é", "\u200b", "\ufeff",
       "9" * 400, "4294967296", "-1", "0x10", "1e9", "nan", "..", "::", "255.255.255.256",
       "10.0.0.1/33", "table", "rspec", "fakenet", "iface", "auto", "source", "mapping",
       "agg-", "bond-", "usbnet-", "x" * 5000]


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        words = lines[i].split(" ")
        j = rng.randrange(len(words))
        kind = rng.randrange(9)
        if kind == 0:                               # delete a token
            del words[j]
        elif kind == 1:                             # duplicate a token
            words.insert(j, words[j])
        elif kind == 2 and len(words) > 1:          # swap two tokens
            k = rng.randrange(len(words))
            words[j], words[k] = words[k], words[j]
        elif kind == 3:                             # an odd token
            words[j] = rng.choice(ODD)
        elif kind == 4:                             # random bytes in a token
            words[j] += "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randint(1, 8)))
        elif kind == 5:                             # delete, duplicate or swap a line
            op = rng.randrange(3)
            if op == 0:
                del lines[i]
                continue
            k = rng.randrange(len(lines))
            if op == 1:
                lines.insert(k, lines[i])
            else:
                lines[i], lines[k] = lines[k], lines[i]
            continue
        elif kind == 6:                             # a line end changed
            words[-1] += rng.choice(["\r", "\\", " \\", "\x00"])
        elif kind == 7:                             # digits of a number changed
            words[j] = "".join(rng.choice("0123456789") if c.isdigit() else c for c in words[j])
        else:                                       # a very long line
            words.append("a" * rng.randint(1000, 20000))
        lines[i] = " ".join(words)
    return "\n".join(lines)


def _validate(path: str) -> None:
    report = across.validate(path)
    for err in report.errors:
        assert isinstance(err, ConfigError)
        assert err.location is not None and err.location.file, f"unlocated: {err}"
        str(err)


def _write(tmp_path, name: str, data: str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8", "surrogatepass"))
    return str(path)


@pytest.mark.parametrize("seed", SEEDS)
def test_mutants_end_in_success_or_located_errors(tmp_path, seed):
    with open(os.path.join(HERE, "seeds", seed), encoding="utf-8") as fh:
        text = fh.read()
    _validate(_write(tmp_path, "seed", text))
    assert across.validate(_write(tmp_path, "seed", text)).errors == [], seed
    rng = random.Random(f"{seed}-13")
    crashed = []
    for n in range(CASES):
        mutant = _mutate(rng, text)
        path = _write(tmp_path, f"m{n % 50}", mutant)
        try:
            _validate(path)
        except Exception as exc:        # any: that is what the fuzz looks for
            crashed.append((n, repr(exc)))
            with open(os.path.join(HERE, "crashers", f"{seed}-{n}"), "w",
                      encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(mutant)
    assert not crashed, crashed[:5]


BONDING = sorted(f for f in os.listdir(os.path.join(HERE, "..", "fixtures"))
                 if f.startswith("proc-net-bonding-"))


@pytest.mark.parametrize("fixture", BONDING)
def test_mutated_proc_net_bonding_texts_parse_or_fail_cleanly(fixture):
    """doctor's /proc/net/bonding parser on mutants of the captures ('1²' once crashed)."""
    from ifupdown_agg.bond import procfs
    from ifupdown_agg.errors import AggError
    with open(os.path.join(HERE, "..", "fixtures", fixture), encoding="utf-8") as fh:
        text = fh.read()
    rng = random.Random(f"{fixture}-13")
    crashed = []
    for n in range(CASES // 2):
        mutant = _mutate(rng, text)
        try:
            procfs.parse(mutant)
        except AggError:
            pass
        except Exception as exc:        # any: that is what the fuzz looks for
            crashed.append((n, repr(exc)))
    assert not crashed, crashed[:5]
    assert procfs.parse("Slave Interface: eth0\nSpeed: 1\u00b2 Mbps\n") is not None


@pytest.mark.parametrize("name", CRASHERS)
def test_inputs_that_once_crashed(name):
    _validate(os.path.join(HERE, "crashers", name))
