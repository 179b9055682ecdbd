#!/bin/bash
# Reproduce "802.3ad over cdc_ncm never aggregates" with real drivers.
# dummy_hcd emulates two USB ports; each gets a configfs NCM gadget whose host
# side is driven by cdc_ncm, as a Realtek RTL8156 in its NCM configuration is.
# The gadgets carry Realtek's IDs and MAC prefix; r8152 is not loaded, so
# cdc_ncm keeps them. The host sides are bonded (802.3ad), the gadget sides
# form the partner bond in namespace "peer". Success: ethtool says half
# duplex and ifagg doctor names half duplex on cdc_ncm, from the live bond and
# from the saved text. Runs inside the VM (vm/run), never on a host.
set -euo pipefail
[[ ${IFAGG_VM:-} == 1 ]] || { echo "runs only inside the test VM: vm/run $0" >&2; exit 2; }

RESULTS=${IFAGG_VM_RESULTS:-/tmp}
GADGETS=/sys/kernel/config/usb_gadget
VENDOR=0x0bda PRODUCT=0x8156
WAIT_STEPS=100          # x 0.1 s
SETTLE_SECONDS=5        # several fast-rate LACP periods

trap 'ip netns del peer 2>/dev/null || true' EXIT

modprobe dummy_hcd num=2
modprobe -a libcomposite usb_f_ncm cdc_ncm
modprobe bonding max_bonds=0     # no automatic bond0: this script makes its own

# make_gadget I: an NCM gadget on dummy_udc.I; prints the gadget-side netdev.
make_gadget() {
    local i=$1 g=$GADGETS/ncm$1
    mkdir "$g"
    echo "$VENDOR" > "$g/idVendor"
    echo "$PRODUCT" > "$g/idProduct"
    mkdir "$g/strings/0x409"
    echo "ifagg-vm-$i" > "$g/strings/0x409/serialnumber"
    echo "ifupdown-agg VM" > "$g/strings/0x409/manufacturer"
    echo "RTL8156 stand-in (NCM)" > "$g/strings/0x409/product"
    mkdir -p "$g/configs/c.1/strings/0x409"
    echo NCM > "$g/configs/c.1/strings/0x409/configuration"
    mkdir "$g/functions/ncm.usb$i"
    echo "02:00:00:56:00:0$i" > "$g/functions/ncm.usb$i/dev_addr"
    echo "00:e0:4c:56:00:0$i" > "$g/functions/ncm.usb$i/host_addr"
    ln -s "$g/functions/ncm.usb$i" "$g/configs/c.1/"
    echo "dummy_udc.$i" > "$g/UDC"
    cat "$g/functions/ncm.usb$i/ifname"
}

# host_side MAC: the cdc_ncm netdev that got MAC (bounded wait for enumeration).
host_side() {
    local step dev
    for ((step = 0; step < WAIT_STEPS; step++)); do
        for dev in /sys/class/net/*; do
            if [[ -f $dev/address && $(cat "$dev/address") == "$1" ]]; then
                basename "$dev"
                return 0
            fi
        done
        sleep 0.1
    done
    echo "FAIL: no host-side interface with MAC $1" >&2
    return 1
}

gadget_side=() host_sides=()
for i in 0 1; do
    gadget_side+=("$(make_gadget $i)")
    host_sides+=("$(host_side "00:e0:4c:56:00:0$i")")
done
echo "gadget sides: ${gadget_side[*]}; host sides: ${host_sides[*]}"

for h in "${host_sides[@]}"; do
    echo "=== $h: driver $(basename "$(readlink "/sys/class/net/$h/device/driver")")"
    ethtool "$h" | tee -a "$RESULTS/ethtool.txt" | grep -E 'Speed|Duplex'
    if ! ethtool "$h" | grep -q 'Duplex: Half'; then
        echo "FAIL: $h does not report half duplex"
        exit 1
    fi
done

# Host side first: if the gadget netdev is up first, the host side stays
# NO-CARRIER until the gadget side is bounced.
ip link add bond0 type bond mode 802.3ad lacp_rate fast miimon 100
for h in "${host_sides[@]}"; do ip link set "$h" master bond0; done
ip link set bond0 up

ip netns add peer
ip -n peer link add bond0 type bond mode 802.3ad lacp_rate fast miimon 100
for g in "${gadget_side[@]}"; do
    ip link set "$g" netns peer
    ip -n peer link set "$g" master bond0
done
ip -n peer link set bond0 up

sleep "$SETTLE_SECONDS"
saved=$RESULTS/proc-net-bonding-cdc_ncm.txt
cat /proc/net/bonding/bond0 > "$saved"
ip netns exec peer cat /proc/net/bonding/bond0 > "$RESULTS/proc-net-bonding-cdc_ncm-peer.txt"
dmesg > "$RESULTS/dmesg.txt"
echo "=== /proc/net/bonding/bond0 (host side)"
cat "$saved"
echo "=== kernel log"
grep -E 'bond0|802.3ad' "$RESULTS/dmesg.txt" || true

echo "=== ifagg doctor bond0 (live: sysfs facts)"
python3 -m ifupdown_agg doctor bond0 || true
python3 -m ifupdown_agg doctor --json bond0 > "$RESULTS/doctor-live.json" || true
python3 -m ifupdown_agg doctor --json --proc-file "$saved" > "$RESULTS/doctor-file.json" || true

python3 - "$RESULTS/doctor-live.json" "$RESULTS/doctor-file.json" <<'EOF'
import json
import sys

failed = False
for path in sys.argv[1:]:
    with open(path) as fh:
        findings = json.load(fh)["findings"]
    named = any(f["code"] == "half-duplex" and "cdc_ncm" in f["message"] for f in findings)
    print(f"{path}: {'names' if named else 'does NOT name'} half duplex on cdc_ncm")
    failed |= not named
sys.exit(1 if failed else 0)
EOF
echo "OK: cdc_ncm reports half duplex and the doctor names it"
