"""One change to the kernel, and how to undo it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ifupdown_agg.core.objects import Bond, Enslave, KObject, NftTable, TunDevice, to_json


@dataclass(frozen=True)
class Op:
    """One change. `old` is what a `set` replaced, so the change can be undone."""

    action: str                    # "add", "del" or "set"
    obj: KObject
    old: Optional[KObject] = None

    def inverse(self) -> "Op":
        if self.action == "add":
            return Op("del", self.obj)
        if self.action == "del":
            return Op("add", self.obj)
        return Op("set", self.old, self.obj)

    def describe(self) -> str:
        text = self.obj.describe()
        if self.action == "del":
            text = text.replace(" add ", " del ", 1)
            if isinstance(self.obj, (TunDevice, Bond)):
                text = f"ip link del {self.obj.name}"
            elif isinstance(self.obj, Enslave):
                text = f"ip link set {self.obj.slave} nomaster"
            elif isinstance(self.obj, NftTable):
                text = f"nft delete table ip {self.obj.name}"
        elif self.action == "set" and isinstance(self.obj, NftTable):
            text = text.replace("nft -f -", "nft -f - (replace)")
        return text

    def to_json(self) -> dict:
        return {"action": self.action, "obj": to_json(self.obj),
                "old": to_json(self.old) if self.old is not None else None}
