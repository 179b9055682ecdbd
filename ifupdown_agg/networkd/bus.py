"""Reload systemd-networkd over D-Bus and wait, bounded, until links are configured.

Uses dbus-next's asyncio client with plain method calls (no introspection):
org.freedesktop.network1.Manager.Reload, GetLinkByName, and the Link
object's AdministrativeState (networkd's "setup state") and OperationalState.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from ifupdown_agg.errors import AggError

NETWORK1 = "org.freedesktop.network1"
MANAGER_PATH = "/org/freedesktop/network1"
MANAGER = NETWORK1 + ".Manager"
LINK = NETWORK1 + ".Link"
PROPERTIES = "org.freedesktop.DBus.Properties"
SYSTEM_BUS = "/run/dbus/system_bus_socket"
FAILED_STATES = ("failed", "linger")
NOT_RUNNING = ("org.freedesktop.DBus.Error.ServiceUnknown",
               "org.freedesktop.DBus.Error.NameHasNoOwner")
SPAWN_ERRORS = "org.freedesktop.DBus.Error.Spawn."


class BusError(AggError):
    """Reloading or watching networkd failed; the message says what to check."""


@dataclass
class LinkState:
    name: str
    setup: str            # networkd's AdministrativeState: pending, configuring, configured, ...
    operational: str

    def __str__(self) -> str:
        return f"{self.name}: {self.setup} ({self.operational})"


def _address() -> str:
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={SYSTEM_BUS}")


class Networkd:
    """One connection to the system bus, for one reload-and-wait."""

    def __init__(self, bus):
        self.bus = bus

    @classmethod
    async def connect(cls) -> "Networkd":
        from dbus_next import BusType
        from dbus_next.aio import MessageBus
        try:
            bus = await MessageBus(bus_address=_address(), bus_type=BusType.SYSTEM).connect()
        except (OSError, EOFError) as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            raise BusError(f"no system bus at {_address()}: {reason}; is dbus running?") from None
        except Exception as err:         # dbus-next raises its own AuthError and others
            raise BusError(f"cannot use the system bus at {_address()}: {err}") from None
        return cls(bus)

    def close(self) -> None:
        self.bus.disconnect()

    async def call(self, path: str, interface: str, member: str, signature: str = "",
                   body: Sequence = ()) -> list:
        from dbus_next import Message, MessageType
        reply = await self.bus.call(Message(destination=NETWORK1, path=path, interface=interface,
                                            member=member, signature=signature, body=list(body)))
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body else ""
            if reply.error_name in NOT_RUNNING or reply.error_name.startswith(SPAWN_ERRORS):
                # Spawn.*: nobody owned the name and D-Bus activation could not start it.
                raise BusError("systemd-networkd is not running (nobody owns org.freedesktop."
                               f"network1 on the system bus; {reply.error_name}: {text}): "
                               "systemctl start systemd-networkd")
            raise BusError(f"networkd refused {member}: {reply.error_name}: {text}")
        return reply.body

    async def reload(self) -> None:
        await self.call(MANAGER_PATH, MANAGER, "Reload")

    async def link_state(self, name: str) -> Optional[LinkState]:
        """None while networkd does not know the link (not created yet)."""
        try:
            _, path = await self.call(MANAGER_PATH, MANAGER, "GetLinkByName", "s", [name])
        except BusError as err:
            if "not running" in str(err):
                raise
            return None
        values = []
        for prop in ("AdministrativeState", "OperationalState"):
            (variant,) = await self.call(path, PROPERTIES, "Get", "ss", [LINK, prop])
            values.append(variant.value)
        return LinkState(name, *values)


def _released(state: Optional[LinkState]) -> bool:
    """networkd has let go of a link whose .network is gone (and dropped its config)."""
    return state is None or state.setup in ("unmanaged", "linger")


async def _wait_released(nd: Networkd, links: Sequence[str], timeout: float,
                         interval: float) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):      # bounded in count as well as time
        states = [await nd.link_state(name) for name in links]
        if all(_released(s) for s in states):
            return
        if time.monotonic() >= deadline:
            held = ", ".join(str(s) for s in states if not _released(s))
            raise BusError(f"networkd still manages {held} {timeout:g}s after its "
                           ".network file went away")
        await asyncio.sleep(interval)


async def _wait(nd: Networkd, links: Sequence[str], timeout: float,
                interval: float) -> Dict[str, Optional[LinkState]]:
    deadline = time.monotonic() + timeout
    states: Dict[str, Optional[LinkState]] = {}
    for _ in range(int(timeout / interval) + 2):      # bounded in count as well as time
        states = {name: await nd.link_state(name) for name in links}
        failed = [s for s in states.values() if s and s.setup in FAILED_STATES]
        if failed:
            raise BusError("networkd failed to configure " + ", ".join(map(str, failed)) +
                           "; see `networkctl status " + failed[0].name +
                           "` and `journalctl -u systemd-networkd`")
        if all(s and s.setup == "configured" for s in states.values()):
            return states
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    waiting = [str(s) if s else f"{n}: unknown to networkd (no such link yet)"
               for n, s in states.items() if not s or s.setup != "configured"]
    hint = ""
    if any(s and s.setup == "unmanaged" for s in states.values()):
        hint = ("; unmanaged means no .network file matches the link, or an earlier "
                "file shadows ours")
    raise BusError(f"links not configured after {timeout:g}s: " + "; ".join(waiting) + hint)


def reload_and_wait(links: Sequence[str], timeout: float = 30.0, interval: float = 0.2,
                    reload: bool = True, released: Sequence[str] = ()
                    ) -> Dict[str, Optional[LinkState]]:
    """Reload networkd's files, then wait until every link in `links` is configured
    and every link in `released` (its .network removed) is no longer managed."""
    async def main():
        nd = await Networkd.connect()
        try:
            if reload:
                await nd.reload()
            if released:
                await _wait_released(nd, released, timeout, interval)
            return await _wait(nd, links, timeout, interval) if links else {}
        finally:
            nd.close()
    return asyncio.run(main())


def link_states(links: Sequence[str]) -> Dict[str, Optional[LinkState]]:
    async def main():
        nd = await Networkd.connect()
        try:
            return {name: await nd.link_state(name) for name in links}
        finally:
            nd.close()
    return asyncio.run(main())
