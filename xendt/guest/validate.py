"""The one validation of the guest model.

Every GuestConfig, Host, Kernel, VirtioDisk, VirtioDevice and Iomem is
checked when it is made (their __post_init__ calls the function of the same
name here), whichever route made it: build flags, an xl.cfg file, a
--guest-json document or the Python API. A value of the wrong Python type
is a FieldTypeError (a TypeError too), one outside its range or enumeration
a FieldError; both are ConfigErrors whose message is ``Owner.field:
problem``, and each route puts its own location (file:line, flag, JSON
path) before the same problem text.

What is checked here is what a value can be at all (libxl's and Xen's
types: a domid, a 32-bit frequency, a 64-bit frame number, a string C can
hold); what a given Xen version accepts is the builder's job (it knows the
layout).
"""

from __future__ import annotations

from typing import Any

from xendt.errors import FieldError, FieldTypeError

U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
#: XC_DOM_DECOMPRESS_MAX (tools/include/xenguest.h): the largest kernel,
#: ramdisk or decompressed kernel libxenguest maps.
MAX_FILE_SIZE = 1 << 30
#: xl reads memory= in MiB into a long of KiB (tools/xl/xl_parse.c).
MAX_MEMORY_MIB = ((1 << 63) - 1) // 1024
#: DOMID_FIRST_RESERVED - 1 (xen/include/public/xen.h): the last ordinary domid.
MAX_DOMID = 0x7FEF
#: LIBXL_INVALID_GFN (~0): an iomem gfn of this value means "none given".
INVALID_GFN = U64_MAX

ARCHES = ("arm64", "arm32")
GIC_VERSIONS = ("default", "v2", "v3")
HOST_GICS = ("v2", "v3")
#: libxl_tee_type's values (libxl_types.idl); which ones each version's xl
#: accepts is its layout's [dt] tee (a test holds them to the union).
TEES = ("none", "optee", "ffa")
TRANSPORTS = ("mmio", "unknown")
RNG_SEED_SIZE = 128

_KINDS = {bool: "true or false", int: "an integer", str: "a string", bytes: "bytes",
          tuple: "a tuple"}


class _Checker:
    """The checks of one object, its class name in every message."""

    def __init__(self, obj: object) -> None:
        self.obj = obj
        self.owner = type(obj).__name__

    def value(self, name: str) -> Any:
        return getattr(self.obj, name)

    def fail(self, name: str, problem: str) -> FieldError:
        return FieldError(self.owner, name, problem)

    def kind(self, name: str, kind: type, optional: bool = False) -> Any:
        value = self.value(name)
        if value is None and optional:
            return None
        # bool is an int in Python, and an int stands for no bool: keep them apart.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = _KINDS.get(kind, kind.__name__) + (" or None" if optional else "")
            raise FieldTypeError(self.owner, name, f"expected {expected}, got {_shown(value)}")
        return value

    def integer(self, name: str, lo: int, hi: int, unit: str = "", why: str = "",
                optional: bool = False) -> None:
        value = self.kind(name, int, optional)
        if value is not None and not lo <= value <= hi:
            reason = f" ({why})" if why else ""
            raise self.fail(name, f"expected {lo} to {hi}{unit}{reason}, got {_shown(value)}")

    def flag(self, name: str, optional: bool = False) -> None:
        self.kind(name, bool, optional)

    def text(self, name: str, optional: bool = False) -> None:
        value = self.kind(name, str, optional)
        if value is None:
            return
        if "\0" in value:
            raise self.fail(name, f"a NUL character at offset {value.index(chr(0))}: libxl's"
                                  " strings end at the first NUL")
        try:
            value.encode("utf-8", "surrogateescape")  # how the tree writes it
        except UnicodeEncodeError as e:
            raise self.fail(name, f"{value[e.start]!r} at offset {e.start} is not a"
                                  " character (a lone surrogate)") from None

    def choice(self, name: str, choices: tuple[str, ...]) -> None:
        value = self.kind(name, str)
        if value not in choices:
            raise self.fail(name, f"expected one of {', '.join(map(repr, choices))},"
                                  f" got {_shown(value)}")

    def items(self, name: str, kind: type) -> None:
        value = self.value(name)
        if not isinstance(value, tuple) or not all(isinstance(v, kind) for v in value):
            raise FieldTypeError(self.owner, name, f"expected a tuple of {kind.__name__},"
                                                   f" got {_shown(value)}")


def _shown(value: object) -> str:
    if isinstance(value, int) and value.bit_length() > 128:  # repr() stops at 4300 digits
        return f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def size_problem(size: int) -> str | None:
    """What is wrong with a kernel or ramdisk of `size` bytes for
    libxenguest's xc_dom_malloc_filemap (tools/libs/guest/xg_dom_core.c @
    RELEASE-4.21.0), or None: the one wording of every route."""
    if size == 0:
        return "0 bytes: libxenguest refuses a zero-length file (\"zero length file\")"
    if size < 0:
        return f"{_shown(size)} bytes: a size is not negative"
    if size > MAX_FILE_SIZE:
        return (f"{_shown(size)} bytes, more than libxenguest's limit of {MAX_FILE_SIZE} bytes"
                " (1 GiB)")
    return None


def kernel(k: object) -> None:
    c = _Checker(k)
    c.choice("arch", ARCHES)
    size = c.kind("size", int)
    if size and size_problem(size):  # 0: no kernel known (its size matters only with a ramdisk)
        raise c.fail("size", size_problem(size) or "")
    c.integer("text_offset", 0, U64_MAX, why="the Image header's 64-bit field")


def virtio_disk(d: object) -> None:
    c = _Checker(d)
    c.text("vdev")
    c.integer("backend_domid", 0, MAX_DOMID, why="a domain ID")
    c.flag("grant_usage", optional=True)


def virtio_device(d: object) -> None:
    c = _Checker(d)
    c.text("type")
    c.choice("transport", TRANSPORTS)
    c.integer("backend_domid", 0, MAX_DOMID, why="a domain ID")
    c.flag("grant_usage", optional=True)


def iomem(r: object) -> None:
    c = _Checker(r)
    c.integer("start", 0, U64_MAX, why="a 64-bit frame number")
    # XEN_DOMCTL_iomem_permission refuses an empty range (mfn + nr - 1 < mfn).
    c.integer("pages", 1, U64_MAX, why="a 64-bit page count")
    c.integer("gfn", 0, INVALID_GFN - 1, why="a 64-bit frame number; ~0 means none",
              optional=True)


def guest_config(g: object) -> None:
    from xendt.guest.model import Iomem, Kernel, VirtioDevice, VirtioDisk

    c = _Checker(g)
    c.integer("memory_mib", 0, MAX_MEMORY_MIB, " MiB", "xl's memory in KiB is a long")
    c.integer("max_vcpus", INT_MIN, INT_MAX, why="xl's vcpus is an int")
    c.choice("gic_version", GIC_VERSIONS)
    c.flag("vuart")
    c.text("cmdline", optional=True)
    if not isinstance(c.value("kernel"), Kernel):
        raise FieldTypeError(c.owner, "kernel", f"expected a Kernel, got {_shown(c.value('kernel'))}")
    ramdisk = c.kind("ramdisk_size", int, optional=True)
    if ramdisk is not None and size_problem(ramdisk):
        raise c.fail("ramdisk_size", size_problem(ramdisk) or "")
    c.kind("partial_dtb", bytes, optional=True)
    c.text("partial_dtb_name")
    c.items("disks", VirtioDisk)
    c.items("virtio", VirtioDevice)
    c.integer("pci_devices", 0, INT_MAX, why="xl's list length is an int")
    c.items("iomem", Iomem)
    c.choice("tee", TEES)
    c.flag("acpi")
    c.integer("nr_spis", 0, U32_MAX, why="libxl's nr_spis is a uint32", optional=True)
    c.flag("vpmu")


def host(h: object) -> None:
    c = _Checker(h)
    c.text("xen", optional=True)
    c.integer("pa_bits", 0, 64, optional=True)
    c.integer("ipa_bits", 0, 64, optional=True)
    c.choice("gic", HOST_GICS)
    c.integer("clock_frequency", 0, U32_MAX, " Hz", "the timer's 32-bit clock-frequency")
    seed = c.kind("rng_seed", bytes, optional=True)
    if seed and len(seed) != RNG_SEED_SIZE:
        raise c.fail("rng_seed", f"libxl writes {RNG_SEED_SIZE} bytes (or b\"\" for none),"
                                 f" got {len(seed)}")
    c.integer("acpi_size", 0, U32_MAX, " bytes", "a 32-bit module size", optional=True)
