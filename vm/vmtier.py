"""VM test tier: run a guest script on Debian's stock kernel under QEMU (TCG).

The host kernel of a CI machine lacks bonding, dummy_hcd and the USB network
drivers, and its root namespace must not be touched; a throwaway VM booted
from the distribution kernel has all of them. The root filesystem is a
busybox initramfs with the host's own bash, iproute2, ethtool, nft and
python3 copied in, so a guest script sees the same tools as a Debian host.

Three cached steps: unpack the kernel package, build the initramfs (keyed on
everything that goes into it; vm/initramfs.py), boot and collect the guest's
exit code from a 9p share.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import List, Optional

from initramfs import GUEST_PATH, build_initramfs, log, run

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(PROJECT, "vm", ".cache")
EXIT_TIMEOUT = 124      # as timeout(1)
EXIT_NO_RESULT = 125    # the VM ended without the guest writing its exit code


@dataclass(frozen=True)
class Kernel:
    version: str      # e.g. 6.1.0-56-amd64
    root: str         # the unpacked package

    @property
    def vmlinuz(self) -> str:
        return os.path.join(self.root, "boot", f"vmlinuz-{self.version}")

    @property
    def modules(self) -> str:
        return os.path.join(self.root, "lib", "modules", self.version)


def cache_dir() -> str:
    path = os.environ.get("IFAGG_VM_CACHE") or DEFAULT_CACHE
    os.makedirs(path, exist_ok=True)
    return path


def stock_kernel_package() -> str:
    """The package linux-image-amd64 currently points to."""
    out = run(["apt-cache", "depends", "linux-image-amd64"])
    found = re.search(r"Depends:\s*(linux-image-\S+-amd64)", out)
    if not found:
        raise SystemExit("vm: apt-cache knows no linux-image-amd64; run apt-get update")
    return found.group(1)


def ensure_kernel(cache: str) -> Kernel:
    package = stock_kernel_package()
    version = package[len("linux-image-"):]
    root = os.path.join(cache, "kernel", version)
    kernel = Kernel(version, root)
    stamp = os.path.join(root, ".ready")
    if os.path.exists(stamp):
        return kernel
    log(f"fetching {package}")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    with tempfile.TemporaryDirectory(dir=cache) as download:
        run(["apt-get", "download", "-q", package], cwd=download)
        deb = next(os.path.join(download, f) for f in os.listdir(download) if f.endswith(".deb"))
        run(["dpkg-deb", "-x", deb, root])
    run(["depmod", "-b", root, version])     # the .deb ships no modules.dep
    open(stamp, "w").close()
    return kernel



def guest_command(script: str, args: List[str], results: str) -> str:
    """The guest path of script: inside the 9p project share, else copied to results."""
    script = os.path.abspath(script)
    if script.startswith(PROJECT + os.sep):
        guest = "/host/" + os.path.relpath(script, PROJECT)
    else:
        shutil.copy2(script, os.path.join(results, "guest-script"))
        guest = "/results/guest-script"
    interpreter = "python3" if script.endswith(".py") else "bash"
    return " ".join(shlex.quote(a) for a in [interpreter, guest] + args)


def write_job(results: str, command: str) -> None:
    with open(os.path.join(results, "job.sh"), "w") as fh:
        fh.write(f"""# written by vm/run
export PATH={GUEST_PATH} PYTHONPATH=/host PYTHONDONTWRITEBYTECODE=1
export IFAGG_VM=1 IFAGG_VM_RESULTS=/results IFAGG_LAB_TIMEOUT=240 IFAGG_LAB_TRACE=3
cd /host
{command}
echo $? > /results/rc
""")


def qemu_command(kernel: Kernel, initramfs: str, results: str, timeout: int) -> List[str]:
    return [
        "timeout", "--kill-after=10", str(timeout),
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1024",
        "-kernel", kernel.vmlinuz, "-initrd", initramfs,
        "-append", "console=ttyS0 panic=-1 quiet",
        "-virtfs", f"local,path={PROJECT},mount_tag=host0,security_model=none,id=host0,readonly=on",
        "-virtfs", f"local,path={results},mount_tag=results0,security_model=none,id=results0",
        "-device", "virtio-rng-pci",
        "-nic", "none", "-display", "none", "-serial", "stdio", "-monitor", "none",
        "-no-reboot",
    ]


def boot(cmd: List[str]) -> int:
    """Run QEMU, echo the serial console, and make sure it is gone when we return."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        for raw in proc.stdout:
            sys.stdout.write(raw.decode(errors="replace").replace("\r", ""))
            sys.stdout.flush()
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()        # timeout(1) passes it on to QEMU
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)   # timeout(1) leads its own group
                proc.wait()


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


def run_guest(script: str, args: List[str], timeout: int, results: Optional[str]) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)       # so boot()'s cleanup runs
    cache = cache_dir()
    started = time.monotonic()
    kernel = ensure_kernel(cache)
    initramfs = build_initramfs(cache, kernel)
    prepared = time.monotonic()
    if results is None:
        results = os.path.join(cache, "results", time.strftime("%Y%m%d-%H%M%S-") + str(os.getpid()))
    os.makedirs(results, exist_ok=True)
    for stale in ("rc", "log", "job.sh"):
        if os.path.exists(os.path.join(results, stale)):
            os.remove(os.path.join(results, stale))
    write_job(results, guest_command(script, args, results))
    status = boot(qemu_command(kernel, initramfs, results, timeout))
    finished = time.monotonic()
    log(f"kernel {kernel.version}; prepare {prepared - started:.1f} s, "
        f"boot+run {finished - prepared:.1f} s; results in {results}")
    try:
        with open(os.path.join(results, "rc")) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        if status == EXIT_TIMEOUT:
            log(f"timed out after {timeout} s")
            return EXIT_TIMEOUT
        log(f"the guest left no exit code (qemu exit status {status})")
        return EXIT_NO_RESULT
