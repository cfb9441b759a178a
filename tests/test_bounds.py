"""Every file input bounded: each entry point, run as its own process under
a 512 MiB address-space limit, given input that never ends or claims to be
huge (/dev/zero itself, a FIFO fed with zeros, standard input fed with
zeros, an 8 GiB sparse file), answers with one line and exit status 2, in
bounded time. Outputs are written atomically, and a SIGINT or SIGTERM
during the write leaves no temporary file behind."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import GOLDEN, dts_to_dtb

LIMIT = 512 << 20
#: xendt's CLI in a process limited to LIMIT bytes of address space (set by
#: the child itself: no preexec_fn, which is unsafe in a threaded parent).
XENDT = [sys.executable, "-c",
         "import resource, runpy, sys;"
         f" resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}));"
         " sys.argv[0] = 'xendt'; runpy.run_module('xendt.cli', run_name='__main__')"]
TIMEOUT = 30
SAMPLE = GOLDEN / "4.21" / "mem1024-v3-vcpu2-pa40-partialdt.dtb"
HOST_DTS = """/dts-v1/;
/ {
	#address-cells = <2>; #size-cells = <2>;
	chosen { };
	memory@40000000 { device_type = "memory"; reg = <0 0x40000000 0 0x40000000>; };
	interrupt-controller@8000000 { compatible = "arm,gic-v3"; interrupt-controller;
		#interrupt-cells = <3>; reg = <0 0x8000000 0 0x10000 0 0x80a0000 0 0xf60000>; };
};
"""

#: Each entry point, with {} where the unending input goes.
ENTRY_POINTS = {
    "show": ["show", "{}"],
    "check": ["check", "{}"],
    "diff": ["diff", "{}", str(SAMPLE)],
    "build -c": ["build", "-c", "{}"],
    "build --guest-json": ["build", "--guest-json", "{}"],
    "build --kernel": ["build", "--kernel", "{}", "--kernel-size", "4096"],
    "build --ramdisk": ["build", "--kernel-size", "4096", "--ramdisk", "{}"],
    "build --device-tree": ["build", "--kernel-size", "100000", "--device-tree", "{}"],
    "host-regions --host-dtb": ["host-regions", "--host-dtb", "{}", "--iommu"],
    "host-regions --dom0-dtb": ["host-regions", "--host-dtb", "HOST", "--iommu", "--dom0-dtb", "{}"],
    "host-regions --partial-dtb": ["host-regions", "--host-dtb", "HOST", "--iommu", "--domain", "d",
                                   "--partial-dtb", "{}"],
    "host-dt --uboot-script": ["host-dt", "--host-dtb", "HOST", "--uboot-script", "{}"],
}
SOURCES = ("/dev/zero", "fifo of zeros", "8 GiB sparse file")


def _feed_zeros(fifo: Path, stop: threading.Event) -> None:
    """Open `fifo` for writing (once a reader has) and write zeros until the
    reader goes away or `stop` is set."""
    try:
        fd = os.open(fifo, os.O_WRONLY)
    except OSError:
        return
    block = bytes(1 << 16)
    try:
        while not stop.is_set():
            os.write(fd, block)
    except OSError:  # EPIPE: the reader has finished
        pass
    finally:
        os.close(fd)


def _run(args: list[str], stdin_zeros: bool = False,
         env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The exit status, stdout and stderr of xendt `args`, limited."""
    proc = subprocess.Popen(XENDT + args, stdin=subprocess.PIPE if stdin_zeros else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=None if env is None else {**os.environ, **env})
    if stdin_zeros:
        def feed() -> None:
            try:
                while proc.poll() is None:
                    proc.stdin.write(bytes(1 << 16))
            except (OSError, ValueError):
                pass
        threading.Thread(target=feed, daemon=True).start()
    try:
        out, err = proc.communicate(timeout=TIMEOUT) if not stdin_zeros else _wait(proc)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return -1, "", f"timed out after {TIMEOUT} s"
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _wait(proc: subprocess.Popen) -> tuple[bytes, bytes]:
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, TIMEOUT)
        time.sleep(0.02)
    return proc.stdout.read(), proc.stderr.read()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[tuple[str, str], tuple[int, str, str]]:
    """Every (entry point, source) run at once, in parallel."""
    tmp = tmp_path_factory.mktemp("bounds")
    host = tmp / "host.dtb"
    host.write_bytes(dts_to_dtb(HOST_DTS))
    sparse = tmp / "huge.bin"
    with open(sparse, "wb") as f:
        f.truncate(8 << 30)
    stop = threading.Event()
    jobs = {}
    for i, (name, template) in enumerate(ENTRY_POINTS.items()):
        for source in SOURCES:
            if source == "fifo of zeros":
                path = str(tmp / f"fifo-{i}")
                os.mkfifo(path)
                threading.Thread(target=_feed_zeros, args=(Path(path), stop), daemon=True).start()
            else:
                path = "/dev/zero" if source == "/dev/zero" else str(sparse)
            args = [a.replace("{}", path).replace("HOST", str(host)) for a in template]
            jobs[(name, source)] = (args + (["-o", str(tmp / f"out-{i}")]
                                            if name.startswith("build") else []), False)
    for name, args in STDIN.items():
        jobs[(name, "stdin of zeros")] = (args, True)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(_run, args, zeros) for key, (args, zeros) in jobs.items()}
        out = {key: future.result() for key, future in futures.items()}
    stop.set()
    return out


STDIN = {
    "show -": ["show", "-"],
    "diff -": ["diff", "-", str(SAMPLE)],
    "build -c -": ["build", "-c", "-", "-o", os.devnull],
    "build --kernel -": ["build", "--kernel", "-", "--kernel-size", "4096", "-o", os.devnull],
    "build --device-tree -": ["build", "--kernel-size", "4096", "--device-tree", "-", "-o",
                              os.devnull],
}

CASES = [(name, source) for name in ENTRY_POINTS for source in SOURCES] + \
        [(name, "stdin of zeros") for name in STDIN]


@pytest.mark.parametrize("name,source", CASES, ids=[f"{n} < {s}" for n, s in CASES])
def test_unending_input_is_one_line_and_status_2_within_512_mib(name, source, results):
    code, out, err = results[(name, source)]
    assert code == 2, err[-2000:]
    assert err.startswith("xendt: ") and err.count("\n") == 1, err[-2000:]
    assert out == ""


EXPECTED = {
    ("show", "/dev/zero"): "xendt: /dev/zero: is a character device, not a device tree file\n",
    ("build -c", "/dev/zero"): "xendt: /dev/zero: is a character device, not an xl.cfg file\n",
    ("build -c", "8 GiB sparse file"): "bytes, more than the 1048576 bytes xendt reads for an"
                                       " xl.cfg (xl.cfg files are a few KiB)\n",
    ("build -c -", "stdin of zeros"): "xendt: <stdin>: more than the 1048576 bytes xendt reads for"
                                      " an xl.cfg (xl.cfg files are a few KiB)\n",
    ("build --kernel", "8 GiB sparse file"): "and --kernel-size both give its size: give one",
    ("build --ramdisk", "fifo of zeros"): "a pipe has no size, and libxenguest loads the whole"
                                          " file: give its size with --ramdisk-size\n",
    ("build --ramdisk", "8 GiB sparse file"): "8589934592 bytes, more than libxenguest's limit of"
                                              " 1073741824 bytes (1 GiB)\n",
    ("build --kernel", "fifo of zeros"): "not an arm32 zImage or arm64 Image\n",
    ("build --device-tree", "fifo of zeros"): "more than 1048576 bytes, libxl's FDT_MAX_SIZE",
}


@pytest.mark.parametrize("key", EXPECTED, ids=[" < ".join(k) for k in EXPECTED])
def test_the_line_says_what_is_wrong(key, results):
    assert EXPECTED[key] in results[key][2]


def test_a_fifo_with_a_header_claiming_64_mib_is_read_within_512_mib(tmp_path):
    # More than a DTB reader takes (MAX_BLOB_SIZE): refused by its header, one line.
    fifo = tmp_path / "claims.dtb"
    os.mkfifo(fifo)
    header = (0xD00DFEED).to_bytes(4, "big") + (64 << 20).to_bytes(4, "big")

    def feed() -> None:
        with open(fifo, "wb") as f, contextlib.suppress(OSError):
            f.write(header + bytes((64 << 20) - 8))

    threading.Thread(target=feed, daemon=True).start()
    code, _, err = _run(["show", str(fifo)])
    assert code == 2 and err.count("\n") == 1, err[-2000:]


# --- hostile U-Boot scripts ---------------------------------------------------------

#: Scripts that once hung xendt or ran it out of memory, each refused with one
#: line naming the bound it passes (xendt.uboot.script). Each loads the
#: host DTB (host.dtb) at 0x1000 first, as a boot script does.
HOSTILE_SCRIPTS = {
    "doubling a variable": ("setenv a x\n" + "setenv a ${a}${a}\n" * 200,
                            "the command expands to more than 16384 characters (xendt's bound)"),
    "a line of 4000 references": ("setenv a " + "x" * 8000 + "\necho " + "${a}" * 4000 + "\n",
                                  "the command expands to more than 16384 characters"),
    "expansions adding up": ("setenv a " + "x" * 16000 + "\n" + "echo ${a}\n" * 200,
                             "expand to more than 1048576 characters in all (xendt's bound)"),
    "20000 resizes": ("fdt addr 0x1000\n" + "fdt resize 0x1ff000\nfdt resize 0\n" * 10000,
                      "more than 10000 commands (xendt's bound)"),
    "a 65 MiB resize": ("fdt addr 0x1000\nfdt resize 0x40ff000\n",
                        "a working DTB of 0x4100000 bytes is more than xendt holds (0x400000 bytes)"),
    "rsvmem delete ffffffff": ("fdt addr 0x1000\nfdt rsvmem delete ffffffff\n",
                               "index ffffffff is -1 as libfdt's int"),
}


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory) -> dict[str, tuple[int, str, str]]:
    tmp = tmp_path_factory.mktemp("uboot")
    host = tmp / "host.dtb"
    host.write_bytes(dts_to_dtb(HOST_DTS))
    jobs = {}
    for i, (name, (script, _)) in enumerate(HOSTILE_SCRIPTS.items()):
        path = tmp / f"boot-{i}.source"
        path.write_text("tftpb 0x1000 host.dtb\n" + script + "booti 0x80000 - 0x1000\n")
        jobs[name] = ["host-dt", "--host-dtb", str(host), "--uboot-script", str(path),
                      "--uboot-version", "2023.01"]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(_run, args) for name, args in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", HOSTILE_SCRIPTS)
def test_a_hostile_u_boot_script_is_one_line_naming_its_bound_within_512_mib(name,
                                                                             hostile_results):
    code, out, err = hostile_results[name]
    assert (code, out) == (2, ""), err[-2000:]
    assert err.startswith("xendt: ") and err.count("\n") == 1, err[-2000:]
    assert ".source:" in err  # the script and line it stopped at
    assert HOSTILE_SCRIPTS[name][1] in err
@pytest.mark.parametrize("kind", ["/dev/zero", "fifo of zeros", "fifo without a writer",
                                  "8 GiB sparse file", "nested 400000 deep"])
def test_a_layout_folder_entry_that_never_ends_is_one_line_within_512_mib(tmp_path, kind):
    layout = tmp_path / "4.99.toml"
    stop = threading.Event()
    if kind == "/dev/zero":
        layout.symlink_to("/dev/zero")
    elif kind.startswith("fifo"):
        os.mkfifo(layout)
        if kind == "fifo of zeros":
            threading.Thread(target=_feed_zeros, args=(layout, stop), daemon=True).start()
    elif kind == "8 GiB sparse file":
        with open(layout, "wb") as f:
            f.truncate(8 << 30)
    else:
        layout.write_text("x = " + "[" * 400_000 + "]" * 400_000 + "\n")
    try:
        code, out, err = _run(["build", "-o", os.devnull],
                              env={"XENDT_LAYOUT_PATH": str(tmp_path), "XENDT_NO_CACHE": "1"})
    finally:
        stop.set()
    why = {"/dev/zero": "is a character device, not a layout file (a regular file)",
           "fifo of zeros": "is a FIFO, not a layout file (a regular file)",
           "fifo without a writer": "is a FIFO, not a layout file (a regular file)",
           "8 GiB sparse file": "more than the 1048576 bytes xendt reads for a layout file",
           "nested 400000 deep": "arrays and tables nested 400000 deep; a layout nests at most"
                                 " 16 deep"}[kind]
    assert (code, out, err) == (2, "", f"xendt: {layout}: {why}\n")


def test_guest_json_nested_a_million_deep_is_one_line_within_512_mib(tmp_path):
    doc = tmp_path / "g.json"
    doc.write_text('{"guest": ' + "[" * 1_000_000)
    code, out, err = _run(["build", "--guest-json", str(doc), "-o", os.devnull])
    assert (code, out, err) == (2, "", f"xendt: {doc}: nested 1000001 deep; a guest description"
                                       " nests at most 8 deep\n")
def dense_dtb(size: int) -> bytes:
    """A valid blob of about `size` bytes: a root holding as many nodes
    d@N { reg = <N * 4 KiB, 4 KiB>; } as fit (a node every 40 bytes or so,
    the densest kind of tree for xendt's address map)."""
    strings = b"reg\0"
    block = bytearray(struct.pack(">I", 1) + bytes(4))  # the root, named ""
    i = 0
    while len(block) < size - 100:
        name = f"d@{i * 0x1000:x}".encode() + b"\0"
        block += struct.pack(">I", 1) + name + bytes(-len(name) % 4)
        block += struct.pack(">III", 3, 16, 0) + struct.pack(">QQ", i * 0x1000, 0x1000)
        block += struct.pack(">I", 2)
        i += 1
    block += struct.pack(">II", 2, 9)  # the root's end, FDT_END
    struct_at = 40 + 16
    strings_at = struct_at + len(block)
    header = struct.pack(">10I", 0xD00DFEED, strings_at + len(strings), struct_at, strings_at, 40,
                         17, 16, 0, len(strings), len(block))
    return header + bytes(16) + bytes(block) + strings


def test_a_60_mb_dtb_is_one_line_within_512_mib(tmp_path):
    path = tmp_path / "huge.dtb"
    path.write_bytes(dense_dtb(60 << 20))
    code, out, err = _run(["show", str(path)])
    assert (code, out) == (2, "")
    assert err == (f"xendt: {path}: header says the blob is {path.stat().st_size} bytes; xendt"
                   f" reads device trees up to 4194304 bytes (the largest device tree Xen reads"
                   f" or writes: dom0's)\n")


@pytest.mark.parametrize("command", [["show"], ["check", "--xen", "4.21"]])
def test_a_dtb_at_the_4_mib_cap_is_read_within_512_mib(tmp_path, command):
    path = tmp_path / "dense.dtb"
    blob = dense_dtb(4 << 20)
    assert len(blob) <= 4 << 20
    path.write_bytes(blob)
    code, out, err = _run([*command, str(path)])
    assert code in (0, 1) and err == "", err[-2000:]
    assert out.count("\n") > 80000  # a DTS line or a finding per node


# --- output ------------------------------------------------------------------

def test_output_through_a_symlink_replaces_the_target_not_the_link(tmp_path):
    target = tmp_path / "real.dtb"
    target.write_bytes(b"old")
    link = tmp_path / "link.dtb"
    link.symlink_to(target)
    code, _, err = _run(["build", "-o", str(link)])
    assert code == 0, err
    assert link.is_symlink() and target.read_bytes()[:4] == b"\xd0\x0d\xfe\xed"


def test_a_missing_output_folder_is_refused_before_reading_any_input(tmp_path):
    # /dev/zero as the xl.cfg would be refused too: the folder is named first.
    code, _, err = _run(["build", "-c", "/dev/zero", "-o", str(tmp_path / "no" / "x.dtb")])
    assert code == 2 and err == f"xendt: cannot write {tmp_path}/no/x.dtb: no folder {tmp_path}/no\n"


def test_show_checks_the_picture_folder_before_printing(tmp_path):
    code, out, err = _run(["show", str(SAMPLE), "--picture", str(tmp_path / "no" / "map.svg")])
    assert (code, out) == (2, "") and err.startswith("xendt: cannot write")


WRITER = """
import os, sys, time
from xendt.cli import output
def slow(fd):
    print("writing", flush=True)
    time.sleep(60)
os.fsync = slow
output.write(sys.argv[1], b"new contents", binary=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_write_leaves_no_temporary_file(signum, tmp_path):
    target = tmp_path / "guest.dtb"
    target.write_bytes(b"previous")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"writing\n"  # the temporary file exists now
    assert len(list(tmp_path.iterdir())) == 2
    proc.send_signal(signum)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode != 0
    assert [p.name for p in tmp_path.iterdir()] == ["guest.dtb"]
    assert target.read_bytes() == b"previous"


def test_sigterm_during_the_write_ends_the_process_as_sigterm_does(tmp_path):
    target = tmp_path / "guest.dtb"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGTERM
