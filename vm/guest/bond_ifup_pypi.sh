#!/bin/bash
# bond_ifup.py with PyPI's pyroute2 and netaddr first on the path: the caller
# copies them to $IFAGG_VM_RESULTS/py (tests/vm, tools/test pass 2). The lab's
# ifagg shim, which the hooks run, puts IFAGG_LAB_PYTHONPATH first as well.
set -euo pipefail
[[ ${IFAGG_VM:-} == 1 ]] || { echo "runs only inside the test VM: vm/run $0" >&2; exit 2; }
export IFAGG_LAB_PYTHONPATH=$IFAGG_VM_RESULTS/py PYTHONPATH=$IFAGG_VM_RESULTS/py:/host
python3 -c 'import pyroute2, netaddr; print("pyroute2", pyroute2.__version__, "netaddr", netaddr.__version__)' \
    | tee "$IFAGG_VM_RESULTS/versions.txt"
exec python3 /host/vm/guest/bond_ifup.py
