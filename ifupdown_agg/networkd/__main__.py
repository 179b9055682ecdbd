"""`python3 -m ifupdown_agg.networkd ACTION ...` from a checkout: the same as
`ifagg networkd ACTION ...` (generate, diff, apply, links, post-apply)."""

import argparse
import sys

from ifupdown_agg.errors import AggError
from ifupdown_agg.networkd import cli


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ifupdown_agg.networkd")
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cli.run(args)
    except AggError as err:
        print(f"ifagg networkd: {err}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as err:
        print(f"ifagg networkd: this Python ({sys.executable}) has no module {err.name!r}: "
              "run /usr/bin/python3 with Debian's python3-* packages", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
