"""One change to the kernel, and how to undo it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

from ifupdown_agg.core.objects import (Bond, BridgePort, Enslave, KObject, NftTable, Route,
                                       TunDevice, UsbGadget, nft_family, to_json)
from ifupdown_agg.core.spreader import SPREADER_PRIO, Spreader


class Action(str, enum.Enum):
    """What an op does. A str enum: records in /run keep the words "add", "del", "set",
    and code comparing with those words still works."""

    ADD = "add"
    DEL = "del"
    SET = "set"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass(frozen=True)
class Op:
    """One change. `old` is what a `set` replaced, so the change can be undone;
    a set with no `old` (a value set on a bond we created) has nothing to restore."""

    action: Action
    obj: KObject
    old: Optional[KObject] = None

    def __post_init__(self):
        object.__setattr__(self, "action", Action(self.action))

    def inverse(self) -> Optional["Op"]:
        """The op that undoes this one, or None when there is nothing to restore."""
        if self.action is Action.ADD:
            return Op(Action.DEL, self.obj)
        if self.action is Action.DEL:
            return Op(Action.ADD, self.obj)
        if self.old is None:
            return None
        return Op(Action.SET, self.old, self.obj)

    def describe(self) -> str:
        text = self.obj.describe()
        if self.action is Action.DEL:
            text = text.replace(" add ", " del ", 1)
            if isinstance(self.obj, (TunDevice, Bond)):
                text = f"ip link del {self.obj.name}"
            elif isinstance(self.obj, Enslave):
                text = f"ip link set {self.obj.slave} nomaster"
            elif isinstance(self.obj, BridgePort):
                text = f"ip link set {self.obj.port} nomaster"
            elif isinstance(self.obj, UsbGadget):
                text = f"configfs del usb_gadget/ifagg_{self.obj.iface}"
            elif isinstance(self.obj, NftTable):
                text = f"nft delete table {nft_family(self.obj.name)} {self.obj.name}"
            elif isinstance(self.obj, Spreader):
                text = f"tc filter del dev {self.obj.dev} egress prio {SPREADER_PRIO}"
        elif self.action is Action.SET and isinstance(self.obj, Route):
            text = text.replace(" add ", " replace ", 1)
        elif self.action is Action.SET and isinstance(self.obj, NftTable):
            text = text.replace("nft -f -", "nft -f - (replace)")
        elif self.action is Action.SET and isinstance(self.obj, Spreader):
            text = f"bpf map update: the spreader's peers on {self.obj.dev}"
            if isinstance(self.old, Spreader) and self.old.pace != self.obj.pace:
                text += (f"; pacing at {self.obj.pace} Mbit/s" if self.obj.pace else "; no pacing") + \
                    f" (now {f'{self.old.pace} Mbit/s' if self.old.pace else 'none'})"
            if isinstance(self.old, Spreader) and self.old.whole_gso != self.obj.whole_gso:
                text += ("; forwarded GSO packets whole (no segmenting hop)" if self.obj.whole_gso
                         else "; the segmenting hop for forwarded GSO packets")
        return text

    def to_json(self) -> dict:
        return {"action": self.action.value, "obj": to_json(self.obj),
                "old": to_json(self.old) if self.old is not None else None}
