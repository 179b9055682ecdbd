#!/bin/bash
# debian/tests/bond-smoke (the package's autopkgtest) on the stock kernel: the
# VM's root stands in for an installed system, with the hook in /etc/network
# and ifagg on PATH, as the package installs them. Runs inside the VM (vm/run).
set -euo pipefail
[[ ${IFAGG_VM:-} == 1 ]] || { echo "runs only inside the test VM: vm/run $0" >&2; exit 2; }
for phase in if-pre-up.d if-up.d if-down.d if-post-down.d; do
    mkdir -p "/etc/network/$phase"
    cp /host/debian/ifupdown-agg.if-up "/etc/network/$phase/ifupdown-agg"
done
printf '#!/bin/sh\nPYTHONPATH=/host exec python3 -m ifupdown_agg "$@"\n' > /usr/sbin/ifagg
chmod +x /usr/sbin/ifagg
exec sh /host/debian/tests/bond-smoke
