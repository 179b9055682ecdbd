#!/bin/bash
# The package's udev rule (debian/ifupdown-agg.udev) with real udev and a real
# USB device: a gadget with Realtek's RTL8156 IDs and two configurations, 1
# vendor-specific (as Realtek's own) and 2 CDC NCM. Without r8152's
# configuration selector (r8152 is not loaded here) Linux picks the CDC one,
# cdc_ncm binds, and the port reports half duplex: the RTL8156 trap. The rule
# must move the device to configuration 1. Runs inside the VM (vm/run).
set -euo pipefail
[[ ${IFAGG_VM:-} == 1 ]] || { echo "runs only inside the test VM: vm/run $0" >&2; exit 2; }
RESULTS=${IFAGG_VM_RESULTS:-/tmp}
modprobe dummy_hcd num=1
modprobe -a libcomposite usb_f_ss_lb usb_f_ncm cdc_ncm

g=/sys/kernel/config/usb_gadget/rtl
mkdir "$g"
echo 0x0bda > "$g/idVendor"; echo 0x8156 > "$g/idProduct"
mkdir -p "$g/strings/0x409" "$g/configs/c.1/strings/0x409" "$g/configs/c.2/strings/0x409"
echo "RTL8156 stand-in" > "$g/strings/0x409/product"
echo "vendor" > "$g/configs/c.1/strings/0x409/configuration"
echo "NCM" > "$g/configs/c.2/strings/0x409/configuration"
mkdir "$g/functions/SourceSink.vendor" "$g/functions/ncm.cdc"
echo 00:e0:4c:56:00:77 > "$g/functions/ncm.cdc/host_addr"
ln -s "$g/functions/SourceSink.vendor" "$g/configs/c.1/"
ln -s "$g/functions/ncm.cdc" "$g/configs/c.2/"

run_udev() {
    /usr/lib/systemd/systemd-udevd --daemon
    udevadm trigger --action=add >/dev/null 2>&1 || true
    udevadm settle -t 10
}

device() {   # the host side's sysfs dir of the stand-in, once enumerated (bounded)
    local step d
    for ((step = 0; step < 50; step++)); do
        for d in /sys/bus/usb/devices/*; do
            [[ -f $d/idVendor && $(cat "$d/idVendor") == 0bda && $(cat "$d/idProduct") == 8156 ]] \
                && { echo "$d"; return 0; }
        done
        sleep 0.1
    done
    return 1
}

# Without the rule: Linux picks configuration 2 and cdc_ncm drives it.
run_udev
echo dummy_udc.0 > "$g/UDC"
udevadm settle -t 10
dev=$(device)
without=$(cat "$dev/bConfigurationValue")
drivers_without=$(for d in "$dev"/*/driver; do [[ -L $d ]] && basename "$(readlink "$d")"; done \
                  | sort -u | tr '\n' ' ' || true)
echo "without the rule: configuration $without, drivers: $drivers_without"
echo "" > "$g/UDC"
udevadm settle -t 10

# With the rule installed where the package puts it.
mkdir -p /lib/udev/rules.d
cp /host/debian/ifupdown-agg.udev /lib/udev/rules.d/60-ifupdown-agg.rules
udevadm control --reload
echo dummy_udc.0 > "$g/UDC"
udevadm settle -t 10
sleep 1
dev=$(device)
with=$(cat "$dev/bConfigurationValue")
echo "with the rule: configuration $with"
udevadm control --exit || true
printf '{"without": "%s", "drivers_without": "%s", "with": "%s"}\n' \
    "$without" "$drivers_without" "$with" > "$RESULTS/realtek-udev.json"
[[ $without == 2 && $with == 1 ]]
echo "OK: the rule moved the RTL8156 stand-in from configuration 2 (cdc_ncm) to 1"
