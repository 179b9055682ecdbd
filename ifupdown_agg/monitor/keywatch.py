"""The monitor's probe keys, and a key roll picked up while it runs: the key file is
looked at about once a second (its mtime, inode and size), and a changed one is
loaded whole or not at all."""

from __future__ import annotations

import logging
import os
from typing import Optional

from ifupdown_agg.errors import AggError
from ifupdown_agg.monitor import keys, logs, probe

log = logging.getLogger("ifupdown-agg")


class KeyWatch:
    def __init__(self, path: str, name: str):
        self.path, self.name = path, name      # name: the monitor's, for its log lines
        self.stamp = None

    def reload(self, current: probe.Signer, first: bool = False) -> Optional[probe.Signer]:
        """A new Signer if the file changed (at the first call: always), else None. A
        bad file raises at the first call and is logged and ignored after it."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        except OSError:
            stamp = None
        if stamp == self.stamp and not first:
            return None
        self.stamp = stamp
        try:
            keyset = keys.load(self.path, self.name)
        except AggError as err:
            if first:
                raise
            log.error("%s: %s; the monitor keeps its keys", self.name, err)
            return None
        if keyset is None and current.keys is not None:
            log.error("%s: the key file %s is gone; the monitor keeps its keys", self.name, self.path)
            return None
        if keyset is None:
            log.warning("%s: %s", self.name, keys.UNAUTHENTICATED.format(path=self.path))
        elif not first:
            log.log(logs.NOTICE, "%s: probe keys reloaded from %s: signing with key %d, "
                    "accepting %s", self.name, self.path, keyset.send_id,
                    ", ".join(map(str, sorted(keyset.keys))))
        return probe.Signer(keyset)
