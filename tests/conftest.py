import os
import shutil
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# Set IFAGG_REGEN_GOLDEN=1 to rewrite expected outputs on purpose, then review the diff.
REGEN = os.environ.get("IFAGG_REGEN_GOLDEN") == "1"


def pytest_collection_modifyitems(config, items):
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    reason = "needs " + ", ".join(missing) if missing else ""
    for item in items:
        if reason and (item.get_closest_marker("root") or item.get_closest_marker("ifupdown")):
            item.add_marker(pytest.mark.skip(reason=reason))
        if item.get_closest_marker("ifupdown") and not shutil.which("ifup"):
            item.add_marker(pytest.mark.skip(reason="needs ifupdown (apt install ifupdown)"))


def golden(path, got):
    """Compare `got` with the file at `path`; IFAGG_REGEN_GOLDEN=1 rewrites it."""
    if REGEN or not os.path.exists(path):
        if not REGEN:
            pytest.fail(f"{path} is missing; run with IFAGG_REGEN_GOLDEN=1 to create it")
        with open(path, "w") as fh:
            fh.write(got)
        return
    with open(path) as fh:
        assert got == fh.read()
