"""`ifagg keygen`: write the link monitor's cluster key (agg-probe-key-file)."""

from __future__ import annotations

from ifupdown_agg.cli.common import Command


class Keygen(Command):
    name = "keygen"
    help = "write a key file that signs the link monitor's hellos (mode 0600)"
    description = ("Write a fresh random key for the link monitor's hellos "
                   "(keyed BLAKE2s-128) to PATH, owner-only (mode 0600). Copy the same "
                   "file to every host of the cluster. Refuses to replace an "
                   "existing file unless --force. To roll a key without a flap: "
                   "write a new one with another --id elsewhere, append its line "
                   "to every host's key file, then move it first everywhere (the "
                   "first key signs, any key verifies), then remove the old line.")

    def add_arguments(self, p) -> None:
        from ifupdown_agg.monitor.keys import DEFAULT_PATH
        p.add_argument("path", nargs="?", default=DEFAULT_PATH,
                       help="where to write it (default: %(default)s)")
        p.add_argument("--id", type=int, default=1, metavar="N", dest="key_id",
                       help="the key id, 1 to 255 (default: %(default)s)")
        p.add_argument("--force", action="store_true", help="replace an existing file")

    def run(self, args) -> int:
        from ifupdown_agg.errors import ConfigError
        from ifupdown_agg.monitor import keys
        if not 1 <= args.key_id <= 255:
            raise ConfigError(f"--id {args.key_id}: a key id is a number from 1 to 255")
        keys.generate(args.path, args.key_id, args.force)
        print(f"ifagg: wrote key {args.key_id} to {args.path} (mode 0600); copy it to every host")
        return 0
