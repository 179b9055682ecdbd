"""The VM's root filesystem: a busybox initramfs with the host's own tools.

The module closure the guest scripts need, the host binaries and every
library ldd names for them, python3 with the project's Debian dependencies,
and /init; written as an uncompressed newc cpio, cached under a key of
everything that goes into it (this file, vmtier.py, the kernel, the packages).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Set, Tuple

if TYPE_CHECKING:
    from vmtier import Kernel

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN_MARK = "@@ifagg-vm begin"
END_MARK = "@@ifagg-vm end"

MODULES = [
    # 9p share and entropy (virtio_pci must be loaded before 9pnet_virtio)
    "virtio_pci", "9pnet_virtio", "9p", "virtio_rng",
    # libcrc32c (nf_tables, sch_* users) asks the crypto layer for crc32c
    "crc32c_generic",
    # links and bonds
    "bonding", "tls", "veth", "tun", "dummy", "bridge",
    # USB: an emulated host controller with gadget side, and the host drivers
    "configfs", "dummy_hcd", "libcomposite", "usb_f_ncm", "usb_f_ecm",
    "usb_f_rndis", "usb_f_eem", "usb_f_acm", "u_serial", "usb_f_ss_lb",
    "cdc_ncm", "cdc_ether", "cdc_eem", "rndis_host", "r8152", "plusb",
    # nftables as the overlay uses it, and shaping
    "nf_tables", "nft_numgen", "nft_objref", "nft_ct", "nft_chain_nat", "nft_masq",
    "nft_limit", "nft_hash", "nft_fib_inet", "nft_reject_inet",
    "sch_tbf", "sch_netem",
    # the overlay's BPF spreader: a cls_bpf filter on a clsact qdisc (sch_ingress)
    "cls_bpf", "sch_ingress",
]

TOOLS = ["bash", "ip", "tc", "bridge", "ethtool", "nft", "kmod",
         # real ifupdown in namespaces (ifupdown_agg.lab): ifup, its run-parts, private mounts
         "ifup", "run-parts", "unshare", "mount", "umount", "iperf3", "ping", "ss",
         # udev applies .link files: the stable names of USB network interfaces
         "udevadm"]
UDEV_FILES = ["lib/udev/rules.d/75-net-description.rules",
              "lib/udev/rules.d/80-net-setup-link.rules",
              "usr/lib/systemd/network/99-default.link", "etc/udev/udev.conf"]
IFUPDOWN_ALIASES = {"usr/sbin/ifdown", "usr/sbin/ifquery"}
KMOD_ALIASES = {"usr/sbin/modprobe", "usr/sbin/lsmod", "usr/sbin/rmmod",
                "usr/sbin/insmod", "usr/sbin/modinfo", "usr/sbin/depmod"}
PY_PACKAGES = ["python3-pyroute2", "python3-netaddr", "python3-nftables", "python3-jinja2",
               "python3-markupsafe", "python3-configobj", "python3-six", "python3-dbus-next"]
# Debian packages whose files end up in the image: their versions key the cache.
IMAGE_PACKAGES = ["busybox-static", "bash", "iproute2", "ethtool", "nftables",
                  "kmod", "libnftables1", "libc6", "python3.11-minimal",
                  "libpython3.11-stdlib", "ifupdown", "debianutils", "util-linux", "mount",
                  "iperf3", "libiperf0", "iputils-ping", "udev"] + PY_PACKAGES
ETC_FILES = ["etc/iproute2", "etc/protocols", "etc/services", "etc/ethertypes"]
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
               "pydoc_data", "dist-packages", "site-packages", "sitecustomize.py"}
# config-3.x-*: the static libpython for embedding (25 MB); lib-dynload test modules and tk
STDLIB_SKIP_RE = re.compile(r"^(config-3|_tkinter|_test|_ctypes_test|xxlimited|_xxtestfuzz)")
GUEST_PATH = "/usr/sbin:/usr/bin:/bb"   # iproute2's ip before busybox's applet

INIT = f"""#!/bb/sh
# PID 1 of the test VM: mount, attach the 9p shares, run the job, power off.
export PATH={GUEST_PATH} HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
modprobe configfs 2>/dev/null
mount -t configfs configfs /sys/kernel/config
ip link set lo up
hostname ifagg-vm
# virtio_pci first, otherwise 9pnet_virtio finds no channels
modprobe virtio_pci && modprobe -a 9pnet_virtio 9p virtio_rng
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose host0 /host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results0 /results
if [ -f /results/job.sh ]; then
    echo "{BEGIN_MARK}"
    /usr/bin/bash /results/job.sh 2>&1 | tee /results/log
    echo "{END_MARK} rc=$(cat /results/rc 2>/dev/null || echo none)"
else
    echo "vm: 9p shares missing, no job to run"
fi
sync
poweroff -f
echo o > /proc/sysrq-trigger
"""


def log(msg: str) -> None:
    print(f"vm: {msg}", file=sys.stderr, flush=True)


def run(cmd: List[str], **kw) -> str:
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout




# --- module closure ---------------------------------------------------------

def module_index(moddir: str) -> Dict[str, Tuple[str, List[str]]]:
    """Module name -> (path relative to moddir, paths it depends on)."""
    index = {}
    with open(os.path.join(moddir, "modules.dep")) as fh:
        for line in fh:
            path, _, deps = line.partition(":")
            name = os.path.basename(path).split(".ko")[0].replace("-", "_")
            index[name] = (path, deps.split())
    return index


def builtin_modules(moddir: str) -> Set[str]:
    with open(os.path.join(moddir, "modules.builtin")) as fh:
        return {os.path.basename(l.strip()).split(".ko")[0].replace("-", "_") for l in fh}


def module_files(moddir: str, names: Iterable[str]) -> Set[str]:
    index = module_index(moddir)
    builtin = builtin_modules(moddir)
    files: Set[str] = set()
    for name in names:
        key = name.replace("-", "_")
        if key in index:
            path, deps = index[key]
            files.add(path)
            files.update(deps)
        elif key not in builtin:
            raise SystemExit(f"vm: kernel has no module {name}")
    return files


# --- initramfs --------------------------------------------------------------

def package_versions() -> str:
    return run(["dpkg-query", "-W", "-f", "${Package}=${Version}\n"] + IMAGE_PACKAGES)


def initramfs_key(kernel: Kernel) -> str:
    digest = hashlib.sha256()
    for name in ("initramfs.py", "vmtier.py"):   # module list, init script, layout
        with open(os.path.join(HERE, name), "rb") as fh:
            digest.update(fh.read())
    digest.update(kernel.version.encode())
    digest.update(package_versions().encode())
    return digest.hexdigest()[:16]


def shared_libraries(binaries: List[str]) -> Set[str]:
    """Absolute paths of every library the ELF files load (ldd resolves the closure)."""
    libs: Set[str] = set()
    proc = subprocess.run(["ldd"] + binaries, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout.splitlines():
        found = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if found:
            libs.add(found.group(1))
    return libs


class Staging:
    """A directory laid out like a usr-merged Debian root."""

    def __init__(self, root: str):
        self.root = root
        for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "bb", "proc", "sys",
                  "dev", "tmp", "run", "root", "host", "results", "etc", "etc/network",
                  "usr/local/sbin"):
            os.makedirs(self.at(d), exist_ok=True)
        for link in ("bin", "sbin", "lib", "lib64"):
            os.symlink(f"usr/{link}", self.at(link))

    def at(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def copy_file(self, src: str, dest: Optional[str] = None) -> None:
        """Copy src (following symlinks) to the same path inside the image."""
        target = self.at(dest or src)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            shutil.copy2(src, target)

    def copy_tree(self, src: str, skip=lambda name: False) -> None:
        shutil.copytree(src, self.at(src), symlinks=True, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if skip(n)])

    def symlink(self, target: str, path: str) -> None:
        os.makedirs(os.path.dirname(self.at(path)), exist_ok=True)
        os.symlink(target, self.at(path))


def tool_path(name: str) -> str:
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise SystemExit(f"vm: {name} is missing; see vm/README.md for the packages")
    return os.path.realpath(found)


def add_busybox(stage: Staging) -> None:
    busybox = tool_path("busybox")
    stage.copy_file(busybox, "/bb/busybox")
    for applet in run([busybox, "--list"]).split():
        if applet != "busybox":
            stage.symlink("busybox", f"/bb/{applet}")


def add_python(stage: Staging) -> List[str]:
    """python3 with its stdlib and the Debian packages; returns its ELF files."""
    python = os.path.realpath("/usr/bin/python3")
    stage.copy_file(python)
    stage.symlink(os.path.basename(python), "/usr/bin/python3")
    stdlib = os.path.join("/usr/lib", os.path.basename(python))     # Debian: /usr/lib/python3.11
    stage.copy_tree(stdlib, lambda n: n in STDLIB_SKIP or bool(STDLIB_SKIP_RE.match(n)))
    dist = "/usr/lib/python3/dist-packages"
    tops = set()
    for path in run(["dpkg-query", "-L"] + PY_PACKAGES).split():
        if path.startswith(dist + "/"):
            tops.add(path[len(dist) + 1:].split("/")[0])
    for top in sorted(tops):
        src = os.path.join(dist, top)
        if os.path.isdir(src):
            stage.copy_tree(src)
        else:
            stage.copy_file(src)
    dynload = os.path.join(stdlib, "lib-dynload")
    return [python] + [os.path.join(dynload, n) for n in os.listdir(stage.at(dynload))]


def add_modules(stage: Staging, kernel: Kernel) -> None:
    rel = os.path.join("lib", "modules", kernel.version)
    for path in sorted(module_files(kernel.modules, MODULES)):
        target = stage.at(os.path.join(rel, path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(kernel.modules, path), target)
    for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        shutil.copy2(os.path.join(kernel.modules, name), stage.at(os.path.join(rel, name)))
    run(["depmod", "-b", stage.root, kernel.version])


def build_initramfs(cache: str, kernel: Kernel) -> str:
    image = os.path.join(cache, f"initramfs-{initramfs_key(kernel)}.cpio")
    if os.path.exists(image):
        return image
    log("building initramfs")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        stage = Staging(os.path.join(tmp, "root"))
        add_busybox(stage)
        elves = [tool_path(t) for t in TOOLS]
        for binary in elves:
            stage.copy_file(binary)
        for alias in KMOD_ALIASES:
            stage.symlink("/usr/bin/kmod", alias)
        for alias in IFUPDOWN_ALIASES:
            stage.symlink("ifup", alias)
        stage.symlink("/usr/bin/udevadm", "/usr/lib/systemd/systemd-udevd")
        for path in UDEV_FILES:
            stage.copy_file("/" + path)
        stage.symlink("bash", "/usr/bin/sh")
        elves += add_python(stage)
        # ifupdown runs hooks with its own PATH (no /bb): busybox fills in the rest
        # of /usr/bin (env, grep, cat, ...) without shadowing a real tool.
        for applet in run([tool_path("busybox"), "--list"]).split():
            if not any(os.path.lexists(stage.at(f"{d}/{applet}"))
                       for d in ("usr/bin", "usr/sbin")):
                stage.symlink("/bb/busybox", f"/usr/bin/{applet}")
        for lib in shared_libraries(elves):
            stage.copy_file(lib)
        for path in ETC_FILES:
            if os.path.isdir("/" + path):
                stage.copy_tree("/" + path)
            elif os.path.exists("/" + path):
                stage.copy_file("/" + path)
        add_modules(stage, kernel)
        with open(stage.at("init"), "w") as fh:
            fh.write(INIT)
        os.chmod(stage.at("init"), 0o755)
        write_cpio(stage.root, image + ".tmp")
    os.replace(image + ".tmp", image)
    for old in os.listdir(cache):        # keep only the current image
        if old.startswith("initramfs-") and os.path.join(cache, old) != image:
            os.remove(os.path.join(cache, old))
    return image


def write_cpio(root: str, out_path: str) -> None:
    """An uncompressed newc archive of root, owned by root (the kernel unpacks it fast)."""
    # mtimes are kept: python checks its .pyc files against them
    entries = [("dev", 0o040755, 0, b""), ("dev/console", 0o020600, 0, b"")]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel in ("dev", "dev/console"):
                continue
            st = os.lstat(path)
            if os.path.islink(path):
                data = os.readlink(path).encode()
            elif os.path.isdir(path):
                data = b""
            else:
                with open(path, "rb") as fh:
                    data = fh.read()
            entries.append((rel, st.st_mode, int(st.st_mtime), data))
    with open(out_path, "wb") as out:
        for ino, (name, mode, mtime, data) in enumerate(entries + [("TRAILER!!!", 0, 0, b"")], 1):
            rdev = (5, 1) if name == "dev/console" else (0, 0)
            fields = (ino, mode, 0, 0, 1, mtime, len(data), 0, 0) + rdev + (len(name) + 1, 0)
            header = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
            out.write(header + b"\0" * (-len(header) % 4))
            out.write(data + b"\0" * (-len(data) % 4))


# --- boot -------------------------------------------------------------------
