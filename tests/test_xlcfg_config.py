"""xendt.guest.xlcfg.config: the GuestConfig and warnings an xl.cfg gives (guest_config,
load_guest, kernel_cmdline)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from xendt.errors import ConfigError, ImageError
from xendt.guest import xlcfg
from xendt.guest.model import GuestConfig, Iomem, Kernel, VirtioDevice, VirtioDisk

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = json.loads((GOLDEN / "cases.json").read_text())
KERNEL = Kernel(arch="arm64", size=0x100000, text_offset=0)


def cfg(text: str, filename: str = "guest.cfg") -> xlcfg.XlConfig:
    return xlcfg.parse(text, filename)


def guest(text: str, **kw) -> tuple[GuestConfig, list[str]]:
    kw.setdefault("kernel", KERNEL)
    kw.setdefault("read_files", False)
    return xlcfg.guest_config(cfg(text), **kw)


def config_error(text: str, **kw) -> str:
    with pytest.raises(ConfigError) as e:
        guest(text, **kw)
    return str(e.value)



# ---------------------------------------------------------------------------
# kernel_cmdline


@pytest.mark.parametrize("cmdline, root, extra, result", [
    ("console=hvc0", None, None, "console=hvc0"),
    ("console=hvc0", "/dev/xvda", "ro", "console=hvc0"),
    (None, "/dev/xvda", "ro quiet", "root=/dev/xvda ro quiet"),
    (None, "/dev/xvda", None, "root=/dev/xvda"),
    (None, None, "ro", "ro"),
    (None, None, None, None),
    ("", None, None, ""),
    (None, "", "", "root= "),
])
def test_kernel_cmdline(cmdline, root, extra, result):
    assert xlcfg.kernel_cmdline(cmdline, root, extra) == result


# ---------------------------------------------------------------------------
# guest_config against the reference cases


def _golden_id(case: dict) -> str:
    return f"{case['version']}/{case['name']}"


@pytest.mark.parametrize("case", CASES, ids=_golden_id)
def test_golden_cfg_gives_the_reference_inputs(case):
    xl, inputs = case["config"]["xl"], case["config"]["inputs"]
    c = xlcfg.load(GOLDEN / case["version"] / f"{case['name']}.xl.cfg")
    for key, value in xl.items():
        if key == "device_tree":  # cases.json names the file, the cfg a placeholder path
            assert Path(c[key]).name == value
        else:
            assert c[key] == (tuple(value) if isinstance(value, list) else value), key

    k = inputs["kernel"]
    kernel = Kernel(arch="arm64" if k["format"] == "arm64 Image" else "arm32",
                    size=k["size_bytes"], text_offset=k["text_offset"] or 0)
    overrides: dict = {"kernel": kernel}
    if "ramdisk" in xl:
        overrides["ramdisk_size"] = inputs["ramdisk_size_bytes"]
    if "device_tree" in xl:
        overrides["partial_dtb"] = (GOLDEN / "partial-passthrough.dtb").read_bytes()
    g, warnings = xlcfg.guest_config(c, read_files=False, **overrides)

    assert warnings == []
    assert g.memory_mib == (inputs["max_memkb"] - inputs["video_memkb"]) // 1024 == xl["memory"]
    assert g.max_vcpus == xl.get("maxvcpus", xl["vcpus"])
    assert g.gic_version == xl["gic_version"]
    assert g.vuart == (xl.get("vuart") == "sbsa_uart")
    assert g.cmdline == xl.get("cmdline")
    assert g.kernel == kernel and (g.kernel.bits == inputs["guest_bits"])
    assert g.ramdisk_size == inputs["ramdisk_size_bytes"]
    assert g.tee == xl.get("tee", "none")
    assert g.acpi == inputs["acpi"]
    assert g.nr_spis == xl.get("nr_spis")
    assert g.vpmu == bool(xl.get("vpmu"))
    assert g.pci_devices == (inputs.get("num_pcidevs") or 0)
    if "device_tree" in xl:
        assert g.partial_dtb_name == c["device_tree"]
        assert hashlib.sha256(g.partial_dtb).hexdigest() == inputs["device_tree_sha256"]
    else:
        assert g.partial_dtb is None
    assert [(d.backend_domid, d.grant_usage) for d in g.disks] == [
        (d["backend_domid"], d["grant_usage"] if d["grant_usage_explicit"] else None)
        for d in inputs.get("virtio_disks") or []]
    assert [(v.type, v.transport, v.backend_domid, v.grant_usage) for v in g.virtio] == [
        (v["type"], v["transport"], v["backend_domid"],
         v["grant_usage"] if v["grant_usage_explicit"] else None)
        for v in inputs.get("virtio_devices") or []]
    assert [(i.start, i.pages, i.guest_frame) for i in g.iomem] == [
        (int(i["start_mfn"], 16), int(i["nr_pages"], 16), int(i["gfn"], 16))
        for i in inputs.get("iomem") or []]


def test_golden_cases_cover_every_golden_cfg():
    files = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.glob("*/*.xl.cfg")}
    assert files == {f"{c['version']}/{c['name']}.xl.cfg" for c in CASES}


# ---------------------------------------------------------------------------
# guest_config: settings


def test_defaults_of_a_minimal_config():
    g, warnings = guest('name = "vm"\n')
    assert g == GuestConfig(kernel=KERNEL) and warnings == []


def test_memory_given_as_quoted_or_hex_number():
    assert guest('memory = "512"')[0].memory_mib == 512
    assert guest("memory = 0x200")[0].memory_mib == 512


def test_maxmem_above_memory_is_refused_as_xl_create_fails():
    # libxl__build_pre caps the domain at memory + LIBXL_MAXMEM_CONSTANT, while
    # libxl__build_dom populates maxmem (tools/libs/light/libxl_dom.c @
    # RELEASE-4.21.0); no PoD on Arm, so populating fails (refusals.md C1b).
    with pytest.raises(ConfigError) as e:
        guest("memory = 512\nmaxmem = 1024\n")
    assert str(e.value) == (
        "guest.cfg:2: maxmem = 1024 > memory = 512: libxl populates maxmem MiB but Xen caps an"
        " Arm guest at memory + 1 MiB (no populate-on-demand on Arm), so xl create fails"
        " (\"xc_dom_boot_mem_init: can't allocate low memory for domain\")")


def test_maxmem_below_memory_decides_the_ram_with_a_warning():
    g, warnings = guest("memory = 1024\nmaxmem = 512\n")
    assert g.memory_mib == 512
    assert warnings == ["guest.cfg:2: maxmem = 512 differs from memory = 1024: libxl gives an Arm"
                        " guest maxmem MiB of RAM, while Xen limits it to memory + 1 MiB"]


def test_maxmem_without_memory_is_the_ram():
    assert guest("maxmem = 256") == (GuestConfig(memory_mib=256, kernel=KERNEL), [])


def test_videoram_is_taken_off_the_ram_with_a_warning():
    g, warnings = guest("memory = 512\nvideoram = 16\n")
    assert g.memory_mib == 496
    assert warnings == ["guest.cfg:2: videoram = 16: libxl takes it off the Arm guest's RAM"
                        " (512 - 16 MiB)"]


@pytest.mark.parametrize("text, message", [
    ('memory = "lots"', "guest.cfg:1: memory = 'lots': expected a number"),
    ("memory = 12ab", "guest.cfg:1: memory = '12ab': expected a number"),
    ('memory = ["1"]', "guest.cfg:1: memory = ['1']: expected a number, not a list"),
    ("vcpus = [1]", "guest.cfg:1: vcpus = ['1']: expected a number, not a list"),
    ("memory = 512\nmemory += 1", "guest.cfg:2: memory += …: xl does not accept += for a number"),
    ('memory = " -1"', "guest.cfg:1: memory = ' -1': expected a number from 0 to 9007199254740991"),
    ("vcpus = 4294967296", "guest.cfg:1: vcpus = 4294967296: expected a number from -2147483648"
     " to 2147483647"),
    ("nr_spis = \"-1\"", "guest.cfg:1: nr_spis: expected 0 to 4294967295 (libxl's nr_spis is a"
                          " uint32), got -1"),
    ('acpi = "yes"', "guest.cfg:1: acpi = 'yes': expected a number"),
    ("memory = 16\nvideoram = 32", "guest.cfg:2: videoram = 32: more than the guest's 16 MiB of memory"),
    ('gic_version = "v4"', "guest.cfg:1: gic_version = 'v4': expected one of 'default', 'v2', 'v3'"),
    ('gic_version = ["v3"]', "guest.cfg:1: gic_version = ['v3']: expected a string, not a list"),
    ('vuart = "pl011"', "guest.cfg:1: vuart = 'pl011': expected one of 'sbsa_uart', 'unknown'"),
    ('tee = "sgx"', "guest.cfg:1: tee = 'sgx': expected one of 'none', 'optee', 'ffa'"),
    ('type = "hvm"', "guest.cfg:1: type = 'hvm': expected 'pvh' (libxl refuses HVM guests on Arm)"),
    ('type = ""', "guest.cfg:1: type = '': expected 'pvh' (libxl refuses HVM guests on Arm)"),
    ('type = "pvhx"', "guest.cfg:1: type = 'pvhx': expected 'pvh'"),
    ('builder = "hvm"', "guest.cfg:1: builder = 'hvm': expected 'pvh' (libxl refuses HVM guests"
     " on Arm)"),
    ('type = "pvh"\nbuilder = "generic"', "guest.cfg:2: builder = 'generic' contradicts type = 'pvh'"),
    ("vcpus = 4\nmaxvcpus = 2", "guest.cfg:2: maxvcpus = 2: fewer than vcpus (4); xl refuses"
     " maxvcpus < vcpus"),
    ('disk = "vdev=xvda,target=/x"', "guest.cfg:1: disk = 'vdev=xvda,target=/x': expected a list:"
     ' disk = [ "…", … ]'),
    ('disk = [["vdev=xvda"]]', "guest.cfg:1: disk item 1 = ['vdev=xvda']: expected a string, not"
     " a list"),
    ('\ndisk = [ "vdev=xvda" ]', "guest.cfg:2: disk spec 'vdev=xvda': no target specified (and"
     " device not removable)"),
    ('virtio = [ "type=virtio,device22,transport=pci" ]', "guest.cfg:1: virtio spec"
     " 'type=virtio,device22,transport=pci': transport='pci': expected 'mmio'"),
    ('pci = [ "01:00.0", "zz" ]', "guest.cfg:1: pci spec 'zz': expected key=value, got 'zz'"),
    ('iomem = [ "1" ]', "guest.cfg:1: iomem spec '1': expected \"IOMEM_START,NUM_PAGES[@GFN]\" in"
     " hexadecimal"),
])
def test_bad_setting_message(text, message):
    assert config_error(text) == message


@pytest.mark.parametrize("text, field, value", [
    ("vcpus = 0", "max_vcpus", 0),  # as xl hands it over; the builder gives one vCPU
    ('vcpus = "-3"', "max_vcpus", -3),  # kept: xl before 4.22 refuses it, 4.22 takes 1
    ("vcpus = 3", "max_vcpus", 3),
    ("vcpus = 2\nmaxvcpus = 8", "max_vcpus", 8),
    ("vcpus = 2\nmaxvcpus = 0", "max_vcpus", 2),
    ("maxvcpus = 4", "max_vcpus", 4),
    ('gic_version = "V3"', "gic_version", "v3"),
    ('gic_version = "Default"', "gic_version", "default"),
    ('vuart = "sbsa_uart"', "vuart", True),
    ('vuart = "SBSA_UART"', "vuart", True),
    ('vuart = "unknown"', "vuart", False),
    ('tee = "ffa"', "tee", "ffa"),
    ('tee = "OPTEE"', "tee", "optee"),
    ("acpi = 1", "acpi", True),
    ("acpi = 0", "acpi", False),
    ('acpi = "2"', "acpi", True),
    ("vpmu = 1", "vpmu", True),
    ("nr_spis = 64", "nr_spis", 64),
    ('extra = "quiet"', "cmdline", "quiet"),
    ('root = "/dev/xvda1"\nextra = "ro"', "cmdline", "root=/dev/xvda1 ro"),
    ("extra = 3", "cmdline", "3"),
    ('pci = [ "01:00.0", "02:00.*@3", "name=gpu" ]', "pci_devices", 3),
    ('iomem = [ "90000,100" ]', "iomem", (Iomem(0x90000, 0x100),)),
    ('disk = [ "/a,raw,xvda,rw", "vdev=xvdb,specification=virtio,backend=1,target=/b" ]', "disks",
     (VirtioDisk("xvdb", 1, None),)),
    ('virtio = [ "type=virtio,device22,transport=mmio", "backend=2,type=virtio,device29,'
     'transport=mmio,grant_usage=0" ]', "virtio",
     (VirtioDevice("virtio,device22", "mmio", 0, None), VirtioDevice("virtio,device29", "mmio", 2, False))),
    ('type = "pvh"\nunknown_setting = [ "anything" ]\nname = "x"', "memory_mib", 32),
])
def test_setting_value(text, field, value):
    g, _ = guest(text)
    assert getattr(g, field) == value


def test_cmdline_wins_over_root_and_extra_with_a_warning():
    g, warnings = guest('cmdline = "console=hvc0"\nroot = "/dev/xvda"\nextra = "ro"\n')
    assert g.cmdline == "console=hvc0"
    assert warnings == ["guest.cfg:2: ignoring root= and extra= in favour of cmdline="]


def test_pv_type_is_converted_to_pvh_with_a_warning():
    _, warnings = guest('type = "pv"')
    assert warnings == ["guest.cfg:1: type = 'pv': libxl converts a PV guest to PVH on Arm"]


def test_virtio_without_mmio_transport_warns():
    g, warnings = guest('virtio = [ "type=virtio,device22" ]')
    assert g.virtio == (VirtioDevice("virtio,device22", "unknown", 0, None),)
    assert warnings == ["guest.cfg:1: virtio entry 1 has no transport=mmio: libxl gives it no"
                        " virtio-mmio node"]


# ---------------------------------------------------------------------------
# guest_config: files


def _image(size: int = 4096, text_offset: int = 0) -> bytes:
    header = struct.pack("<IIQQQQQQ4sI", 0, 0, text_offset, 0, 0, 0, 0, 0, b"ARM\x64", 0)
    return header + b"\0" * (size - len(header))


def test_files_named_by_the_config_are_read(tmp_path, monkeypatch):
    (tmp_path / "Image").write_bytes(_image(8192, 0x80000))
    (tmp_path / "initrd").write_bytes(b"r" * 1234)
    (tmp_path / "pt.dtb").write_bytes(b"dtb bytes")
    monkeypatch.chdir(tmp_path)  # paths are relative to the current directory, as in xl
    c = cfg('kernel = "Image"\nramdisk = "initrd"\ndevice_tree = "pt.dtb"\n')
    g, _ = xlcfg.guest_config(c)
    assert g.kernel == Kernel("arm64", 8192, 0x80000)
    assert (g.ramdisk_size, g.partial_dtb, g.partial_dtb_name) == (1234, b"dtb bytes", "pt.dtb")


def test_replacements_are_used_instead_of_the_named_files(tmp_path):
    c = cfg(f'kernel = "{tmp_path}/missing"\nramdisk = "{tmp_path}/missing"\n'
            f'device_tree = "{tmp_path}/missing.dtb"\n')
    g, _ = xlcfg.guest_config(c, kernel=KERNEL, ramdisk_size=99, partial_dtb=b"x")
    assert (g.kernel, g.ramdisk_size, g.partial_dtb) == (KERNEL, 99, b"x")
    assert g.partial_dtb_name == f"{tmp_path}/missing.dtb"


def test_replacements_add_what_the_config_lacks():
    g, _ = guest("", ramdisk_size=4096, partial_dtb=b"blob")
    assert (g.ramdisk_size, g.partial_dtb, g.partial_dtb_name) == (4096, b"blob", "<partial_dtb>")


def test_read_files_false_refuses_an_unreplaced_file():
    message = config_error('ramdisk = "/path/to/initrd.img"')
    assert message == ("guest.cfg:1: ramdisk = '/path/to/initrd.img': not read (read_files=False)"
                       " and no replacement given")


def test_empty_ramdisk_path_means_no_ramdisk():
    assert guest('ramdisk = ""', read_files=True)[0].ramdisk_size is None


def test_missing_kernel_setting_is_an_error():
    with pytest.raises(ConfigError) as e:
        xlcfg.guest_config(cfg('name = "vm"'))
    assert str(e.value) == "guest.cfg: no kernel= setting (libxl needs a kernel to build an Arm guest)"


def test_unreadable_kernel_error_names_the_setting_and_file(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(ImageError) as e:
        xlcfg.guest_config(cfg(f'\nkernel = "{path}"\n'))
    assert str(e.value) == f"guest.cfg:2: kernel {str(path)!r}: cannot read: No such file or directory"


def test_unreadable_device_tree_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match=r"^guest\.cfg:1: partial device tree '.*nope\.dtb': cannot read"):
        guest(f'device_tree = "{tmp_path}/nope.dtb"', read_files=True)



# --- bounds and the model's checks -------------------------------------------------

def test_a_5000_digit_memory_is_refused_naming_its_range():
    with pytest.raises(ConfigError) as e:
        guest("memory = " + "9" * 5000)
    assert str(e.value) == ("guest.cfg:1: memory = " + "9" * 40 + "... (5000 characters): expected"
                            " a number from 0 to 9007199254740991")


def test_a_5000_digit_backend_domid_is_refused():
    with pytest.raises(ConfigError, match=r"backend='9+' is not a domain ID: expected 0 to 32751$"):
        guest('disk = [ "vdev=xvda,specification=virtio,backend=' + "9" * 5000 + ',target=/x" ]')


def test_a_nul_in_the_command_line_is_the_models_refusal_at_its_line():
    with pytest.raises(ConfigError) as e:
        guest('memory = 64\nextra = "a\0b"')
    assert str(e.value) == ("guest.cfg:2: extra: a NUL character at offset 1: libxl's strings end"
                            " at the first NUL")


def test_a_nul_in_a_file_name_is_one_line():
    with pytest.raises(ConfigError) as e:
        xlcfg.guest_config(cfg('kernel = "k"\ndevice_tree = "a\0b"'), kernel=Kernel(size=4096))
    assert str(e.value) == ("guest.cfg:2: partial device tree 'a\\x00b': cannot read: a file name"
                            " has no NUL character")


def test_a_negative_vcpus_beside_maxvcpus_warns_what_xl_before_4_22_does():
    # libxl_cpu_bitmap_alloc refuses max_cpus < 0 (tools/libs/light/libxl_utils.c @
    # RELEASE-4.21.0); xl_parse.c @ RELEASE-4.22.0 makes vcpus 1 before it.
    g, warnings = guest('vcpus = "-3"\nmaxvcpus = 2')
    assert (g.max_vcpus, warnings) == (2, [
        "guest.cfg:1: vcpus = '-3': xl 4.14 to 4.21 refuse a negative vcpus (\"Unable to allocate"
        " cpumap\"); 4.22 takes it as 1"])
