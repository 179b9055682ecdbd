"""A TCP transfer with checksums at both ends, for failover tests and the bench.

The receiver hashes what it gets, the sender what it sends: equal digests and
lengths mean the connection survived and the data arrived intact.
"""

from __future__ import annotations

import json
import time
from typing import Callable, Optional

RECEIVER = r"""
import hashlib, json, socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2]))); srv.listen(1); srv.settimeout(30)
print("listening", flush=True)
conn, _ = srv.accept(); conn.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    data = conn.recv(1 << 16)
    if not data:
        break
    h.update(data); n += len(data)
print(json.dumps({"bytes": n, "sha256": h.hexdigest()}), flush=True)
"""

SENDER = r"""
import hashlib, json, random, socket, sys
total = int(sys.argv[3]) << 20
rnd, h, sent = random.Random(7), hashlib.sha256(), 0
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
print("connected", flush=True)
while sent < total:
    chunk = rnd.getrandbits(8 * (1 << 16)).to_bytes(1 << 16, "little")
    sock.sendall(chunk); h.update(chunk); sent += len(chunk)
sock.shutdown(socket.SHUT_WR)
sock.recv(1)
print(json.dumps({"bytes": sent, "sha256": h.hexdigest()}), flush=True)
"""


def transfer(lab, sender, receiver, dst: str, megabytes: int, port: int = 5301,
             during: Optional[Callable[[], None]] = None, after_seconds: float = 1.0,
             timeout: float = 120) -> dict:
    """Send `megabytes` from sender to receiver; run `during()` after `after_seconds`."""
    rx = lab.spawn(receiver, ["python3", "-c", RECEIVER, dst, str(port)])
    assert rx.stdout.readline().strip() == "listening"
    tx = lab.spawn(sender, ["python3", "-c", SENDER, dst, str(port), str(megabytes)])
    assert tx.stdout.readline().strip() == "connected"
    start = time.monotonic()
    if during:
        time.sleep(after_seconds)
        during()
    tx_out, tx_err = tx.communicate(timeout=timeout)
    rx_out, rx_err = rx.communicate(timeout=timeout)
    sent = json.loads(tx_out.strip().splitlines()[-1]) if tx.returncode == 0 else {"error": tx_err}
    got = json.loads(rx_out.strip().splitlines()[-1]) if rx.returncode == 0 else {"error": rx_err}
    return {"sent": sent, "received": got, "seconds": time.monotonic() - start,
            "intact": "error" not in sent and sent == got}
