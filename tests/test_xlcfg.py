"""xendt.guest.xlcfg: xl.cfg syntax, xl's spec strings, and the GuestConfig they make."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from xendt.guest import xlcfg
from xendt.errors import ConfigError, ImageError, XlConfigSyntaxError
from xendt.model import GuestConfig, Iomem, Kernel, VirtioDevice, VirtioDisk
from xendt.guest.xlcfg import PciDevice

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
# Syntax


def test_parse_gives_strings_numbers_and_lists():
    c = cfg('name = "vm1"\nmemory = 1024\ndisk = [ "a", \'b\' ]\n')
    assert dict(c) == {"name": "vm1", "memory": 1024, "disk": ("a", "b")}


@pytest.mark.parametrize("text, value", [
    ("0x400", 0x400), ("010", 8), ("0", 0), ("12", 12), ("0x", "0x"), ("12ab", "12ab"), ("08", "08"),
])
def test_bare_number_is_int_when_strtol_reads_it_whole(text, value):
    assert cfg(f"x = {text}")["x"] == value


def test_quoted_number_stays_a_string():
    assert cfg('memory = "1024"')["memory"] == "1024"


def test_numbers_in_lists_stay_strings():
    assert cfg("cpus = [1, 0x2]")["cpus"] == ("1", "0x2")


def test_semicolons_separate_settings():
    assert dict(cfg("a = 1; b = 2;; c = 3")) == {"a": 1, "b": 2, "c": 3}


def test_last_setting_wins_and_keeps_first_position():
    c = cfg("a = 1\nb = 2\na = 3\n")
    assert list(c.items()) == [("a", 3), ("b", 2)]
    assert c.line("a") == 3


def test_plus_equals_appends_strings_and_lists():
    c = cfg('x = "ab"\nx += "cd"\nl = ["1"]\nl += ["2", "3"]\n')
    assert c["x"] == "abcd" and c["l"] == ("1", "2", "3")
    assert c.setting("x").added


def test_plus_equals_of_numbers_concatenates_their_text():
    assert cfg("x = 10\nx += 24")["x"] == "1024"


def test_plus_equals_without_earlier_setting_is_an_assignment():
    assert cfg('x += "a"')["x"] == "a"


def test_list_spans_lines_with_comments_and_trailing_comma():
    c = cfg('disk = [\n  "a",   # first\n\n  "b",\n]\nx = 1\n')
    assert c["disk"] == ("a", "b") and c["x"] == 1


def test_empty_and_nested_lists():
    assert dict(cfg('a = []\nb = [\n]\nc = [["p=1", "q"], "r"]')) == {
        "a": (), "b": (), "c": (("p=1", "q"), "r")}


def test_last_setting_may_end_at_end_of_file():
    assert cfg('a = "x"')["a"] == "x"


def test_comment_lines_and_blank_lines_are_ignored():
    assert dict(cfg("# comment\n\n   \n\ta = 1 # trailing\n#\n")) == {"a": 1}


def test_string_escapes():
    assert cfg(r'''s = "q\"\'\\\a\b\f\n\r\t\v" ''')["s"] == "q\"'\\\a\b\f\n\r\t\v"


def test_single_quoted_string_with_double_quote():
    assert cfg("s = 'say \"hi\"'")["s"] == 'say "hi"'


def test_octal_escape_is_dropped_as_libxlu_does():
    assert cfg(r's = "a\101b"')["s"] == "ab"


def test_setting_records_value_line_and_column():
    c = cfg('\n\n  kernel  =  "/k"\n', "vm.cfg")
    s = c.setting("kernel")
    assert (s.line, s.column, s.text) == (3, 14, "/k")
    assert c.where("kernel") == "vm.cfg:3"


def test_setting_text_keeps_number_as_written():
    assert cfg("x = 0x10").setting("x").text == "0x10"


def test_xlconfig_is_read_only():
    c = cfg("a = 1")
    with pytest.raises(TypeError):
        c["a"] = 2  # type: ignore[index]


@pytest.mark.parametrize("text, message", [
    ("memory = 1024 # no newline", "g.cfg:1:15: comment at the end of the file lacks a newline"
     " (xl's parser needs one)"),
    ("Memory = 1\n", "g.cfg:1:1: unexpected 'M': names and bare numbers in xl.cfg are lower case"),
    ("x = 0x1F\n", "g.cfg:1:8: unexpected 'F': names and bare numbers in xl.cfg are lower case"),
    ("_x = 1\n", "g.cfg:1:1: unexpected '_': a setting name starts with a letter a-z"),
    ("a = 1\nb = 2 + 3\n", "g.cfg:2:7: unexpected '+': xl.cfg is not Python, it has no expressions"),
    ("a = -1\n", "g.cfg:1:5: unexpected '-': xl.cfg is not Python, it has no expressions"),
    ('a = "abc\n', 'g.cfg:1:5: unterminated string: " … " must close on the same line'),
    ("a = 1\r\n", "g.cfg:1:6: carriage return: xl.cfg needs Unix line endings (\\n, not \\r\\n)"),
    ("a = {}\n", "g.cfg:1:5: unexpected character '{'"),
    ("a =\n1\n", "g.cfg:1:4: expected a value (a string, a number or '['), got end of line"),
    ("a = 1 2\n", "g.cfg:1:7: expected end of line or ';' after the value, got number 2"),
    ('a = "x" b\n', "g.cfg:1:9: expected end of line or ';' after the value, got name 'b'"),
    ("a 1\n", "g.cfg:1:3: expected '=' or '+=' after 'a', got number 1"),
    ("= 1\n", "g.cfg:1:1: expected a setting name, got '='"),
    ('"a" = 1\n', "g.cfg:1:1: expected a setting name, got string 'a'"),
    ("a = [1,,2]\n", "g.cfg:1:8: expected a value (a string, a number or '['), got ','"),
    ("a = [,]\n", "g.cfg:1:6: expected a value (a string, a number or '['), got ','"),
    ("a = [1 2]\n", "g.cfg:1:8: expected ',' or ']' in the list, got number 2"),
    ("a = [1,\n", "g.cfg:2:1: expected a value (a string, a number or '['), got end of file"),
    ("a = ]\n", "g.cfg:1:5: expected a value (a string, a number or '['), got ']'"),
    (r'a = "\x41"', "g.cfg:1:6: hex escape \\x…: xl rejects every \\x escape in a string"),
    (r'a = "\1"', "g.cfg:1:6: octal escape \\1 that xl cannot parse (it reads 2 more digits)"),
    (r'a = "\q"', "g.cfg:1:6: invalid escape \\q in a string"),
    ('a = "x"\na += ["y"]\n', "g.cfg:2:6: cannot add a list to a string with a +="),
    ('a = ["x"]\na += "y"\n', "g.cfg:2:6: cannot add a string to a list with a +="),
])
def test_syntax_error_message(text, message):
    with pytest.raises(XlConfigSyntaxError) as e:
        xlcfg.parse(text, "g.cfg")
    assert str(e.value) == message


def test_first_error_in_the_file_is_reported():
    with pytest.raises(XlConfigSyntaxError, match=r"^g\.cfg:1:7:"):
        xlcfg.parse("a = 1 2\nB = 3\n", "g.cfg")


def test_load_reads_the_file(tmp_path):
    path = tmp_path / "vm.cfg"
    path.write_bytes(b'kernel = "/boot/\xff"\n')
    c = xlcfg.load(path)
    assert c.filename == str(path) and c["kernel"] == "/boot/\udcff"


def test_load_of_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError) as e:
        xlcfg.load(tmp_path / "nope.cfg")
    assert str(e.value) == f"{tmp_path / 'nope.cfg'}: cannot read the xl.cfg file: No such file or directory"


# ---------------------------------------------------------------------------
# Spec strings


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


@pytest.mark.parametrize("spec, disk", [
    ("format=raw, vdev=xvda, access=rw, backendtype=standalone, specification=virtio,"
     " backend=1, target=/path/to/disk0.img", VirtioDisk("xvda", 1, None)),
    ("vdev=xvdb,specification=virtio,target=/d.img", VirtioDisk("xvdb", 0, None)),
    ("vdev=xvdb,specification=virtio,grant_usage=1,backend=0,target=/d", VirtioDisk("xvdb", 0, True)),
    ("vdev=xvdb,specification=virtio,grant_usage=0,backend=2,target=/d", VirtioDisk("xvdb", 2, False)),
    ("vdev=xvdb,specification=virtio,backend=,target=/d", VirtioDisk("xvdb", 0, None)),
    ("/d.img,raw,xvdc,rw,specification=virtio", VirtioDisk("xvdc", 0, None)),
    ("/dev/vg/guest-volume,,hda", None),
    ("/root/image.iso,,hdc:cdrom,r", None),
    (",,hdc:cdrom,r", None),
    ("phy:/dev/sda,xvda,w", None),
    ("tap:aio:/x.img,xvda,w", None),
    ("qcow2:/x.qcow2,xvda", None),
    ("vdev=xvda, target=/a,b,c", None),
    ("format=raw, vdev=xvda, specification=xen, backend=dom0name, target=/a", None),
    ("vdev=xvda,devtype=cdrom", None),
])
def test_parse_disk_accepts(spec, disk):
    assert xlcfg.parse_disk(spec) == disk


def test_parse_disk_target_takes_the_rest_of_the_string():
    assert xlcfg.parse_disk("vdev=xvda,specification=virtio,target=/a,backend=1,") == VirtioDisk("xvda")


@pytest.mark.parametrize("spec, reason", [
    ("target=/x", "no vdev specified"),
    ("specification=virtio,target=/a,vdev=xvda", "no vdev specified"),  # target= took the rest
    ("vdev=xvda", "no target specified (and device not removable)"),
    ("xvda,raw", "no vdev specified"),
    ("format=qcow3,vdev=xvda,target=/x", "unknown value for format: 'qcow3'"),
    ("vdev=xvda,access=rx,target=/x", "unknown value for access: 'rx'"),
    ("vdev=xvda,specification=vhost,target=/x", "unknown value for specification: 'vhost'"),
    ("vdev=xvda,backendtype=nbd,target=/x", "unknown value for backendtype: 'nbd'"),
    ("vdev=xvda,devtype=floppy,target=/x", "unknown value for type: 'devtype=floppy,'"),
    ("foo=bar,vdev=xvda,target=/x", "unknown parameter: 'foo=b'"),
    ("grant_usage=2,vdev=xvda,target=/x", "bad disk syntax: '=2,vdev=xvda,target=/x'"),
    ("vdev=xvda,vdev=xvdb,target=/x", "vdev respecified: 'xvdb'"),
    ("specification=virtio,specification=xen,vdev=x,target=/x", "specification respecified: 'xen'"),
    ("/x,raw,xvda,rw,more", "too many positional parameters: 'more'"),
    ("foo:/x,xvda", "unknown deprecated disk prefix: 'foo:'"),
    ("/x,,hdc:tape", "unknown deprecated type: 'tape'"),
    ("vdev=x,specification=virtio,backend=driver-dom,target=/x",
     "backend='driver-dom' is a domain name; xendt cannot look up running domains, give the"
     " backend's domain ID (a number)"),
    ("vdev=x,specification=virtio,backend=32752,target=/x",
     "backend='32752' is not a domain ID: expected 0 to 32751"),
])
def test_parse_disk_rejects(spec, reason):
    with pytest.raises(ConfigError) as e:
        xlcfg.parse_disk(spec)
    assert str(e.value) == f"disk spec {spec!r}: {reason}"


@pytest.mark.parametrize("spec, device", [
    ("backend=1,type=virtio,device22,transport=mmio,grant_usage=1",
     VirtioDevice("virtio,device22", "mmio", 1, True)),
    ("backend=0,type=virtio,device,transport=mmio,grant_usage=1",
     VirtioDevice("virtio,device", "mmio", 0, True)),
    ("type=virtio,device1a,transport=MMIO", VirtioDevice("virtio,device1a", "mmio", 0, None)),
    (" backend=3,, type=virtio,device29, transport=mmio, grant_usage=0",
     VirtioDevice("virtio,device29", "mmio", 3, False)),
    ("type=virtio,device22", VirtioDevice("virtio,device22", "unknown", 0, None)),
    ("type=virtio, device22,transport=mmio", VirtioDevice("virtio, device22", "mmio", 0, None)),
    ("type=foo,transport=mmio", VirtioDevice("foo", "mmio", 0, None)),
    ("", VirtioDevice("", "unknown", 0, None)),
])
def test_parse_virtio_accepts(spec, device):
    assert xlcfg.parse_virtio(spec) == device


@pytest.mark.parametrize("spec, reason", [
    ("backend=1,transport=mmio,type=virtio", "'type=virtio' lacks the ',device<N>' part of its type"),
    ("type=virtio,device22,transport=pci", "transport='pci': expected 'mmio'"),
    ("type=virtio,device22,irq=5", "unknown setting 'irq=5': expected backend=, type=, transport="
     " or grant_usage="),
    ("type=virtio,device22,mmio", "unknown setting 'mmio': expected backend=, type=, transport="
     " or grant_usage="),
    ("type=virtio,device22,grant_usage=yes", "grant_usage='yes': expected 0 or 1"),
    ("transport=mmio,backend=1", "no type= (e.g. type=virtio,device22)"),
    ("type=virtio,device22,backend=3 ",
     "backend='3 ' is a domain name; xendt cannot look up running domains, give the backend's"
     " domain ID (a number)"),
    ("type=virtio,device22,backend=dom1",
     "backend='dom1' is a domain name; xendt cannot look up running domains, give the backend's"
     " domain ID (a number)"),
])
def test_parse_virtio_rejects(spec, reason):
    with pytest.raises(ConfigError) as e:
        xlcfg.parse_virtio(spec)
    assert str(e.value) == f"virtio spec {spec!r}: {reason}"


@pytest.mark.parametrize("spec, iomem", [
    ("90000,100@90000", Iomem(0x90000, 0x100, 0x90000)),
    ("f0000,20@a00000", Iomem(0xF0000, 0x20, 0xA00000)),
    ("82000,10", Iomem(0x82000, 0x10, None)),
    ("0x82000, 0X10", Iomem(0x82000, 0x10, None)),
    ("ABC,1@DEF", Iomem(0xABC, 1, 0xDEF)),
    ("1,1@ffffffffffffffff", Iomem(1, 1, None)),
])
def test_parse_iomem_accepts(spec, iomem):
    assert xlcfg.parse_iomem(spec) == iomem


@pytest.mark.parametrize("spec, reason", [
    ("90000", 'expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal'),
    ("90000 ,100", 'expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal'),
    ("90000,100@", 'expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal'),
    ("90000,100@5x", 'expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal'),
    ("90000,100 ", 'expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal'),
    ("xyz,1", 'expected "IOMEM_START,NUM_PAGES[@GFN]" in hexadecimal'),
    ("-1,1", "'-1' is out of range: expected 0 to 0xffffffffffffffff"),
    ("1,10000000000000000", "'10000000000000000' is out of range: expected 0 to 0xffffffffffffffff"),
])
def test_parse_iomem_rejects(spec, reason):
    with pytest.raises(ConfigError) as e:
        xlcfg.parse_iomem(spec)
    assert str(e.value) == f"iomem spec {spec!r}: {reason}"


@pytest.mark.parametrize("spec, device", [
    ("0000:01:00.0", PciDevice(0, 1, 0, 0)),
    ("01:1f.7", PciDevice(0, 1, 0x1F, 7)),
    ("ffff:ff:00.*", PciDevice(0xFFFF, 0xFF, 0, 0, all_functions=True)),
    ("03:00.1@4", PciDevice(0, 3, 0, 1, vslot=4)),
    ("03:00.1,permissive=1,seize=1", PciDevice(0, 3, 0, 1)),
    ("bdf=0000:05:00.0,vslot=1f", PciDevice(0, 5, 0, 0, vslot=0x1F)),
    ("name=gpu0,rdm_policy=relaxed", PciDevice(name="gpu0")),
])
def test_parse_pci_accepts(spec, device):
    assert xlcfg.parse_pci(spec) == device


@pytest.mark.parametrize("spec, reason", [
    ("01:20.0", "expected key=value, got '01:20.0'"),
    ("01:00.8", "expected key=value, got '01:00.8'"),
    ("1:2:3:4.0", "expected key=value, got '1:2:3:4.0'"),
    ("01:00", "expected key=value, got '01:00'"),
    ("03:00.1@20", "bad @VSLOT '@20': expected a slot 0 to 1f"),
    ("03:00.1x", "unexpected 'x' after the BDF"),
    ("03:00.1,colour=red", "unknown setting 'colour'"),
    ("bdf=1:2", "bdf='1:2': expected [DDDD:]BB:DD.F"),
    ("03:00.1,name=gpu", "expected a BDF ([DDDD:]BB:DD.F) or name=, not both"),
    ("permissive=1", "expected a BDF ([DDDD:]BB:DD.F) or name=, not neither"),
    ("name=gpu,rdm_policy=lax", "rdm_policy='lax': expected 'strict' or 'relaxed'"),
])
def test_parse_pci_rejects(spec, reason):
    with pytest.raises(ConfigError) as e:
        xlcfg.parse_pci(spec)
    assert str(e.value) == f"pci spec {spec!r}: {reason}"


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


def test_maxmem_decides_the_ram_with_a_warning():
    g, warnings = guest("memory = 512\nmaxmem = 1024\n")
    assert g.memory_mib == 1024
    assert warnings == ["guest.cfg:2: maxmem = 1024 differs from memory = 512: libxl gives an Arm"
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
    ("nr_spis = \"-1\"", "guest.cfg:1: nr_spis = '-1': expected a number from 0 to 4294967295"),
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
    ("vcpus = 0", "max_vcpus", 1),
    ('vcpus = "-3"', "max_vcpus", 1),
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
    g, warnings = guest('type = "pv"')
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
    assert str(e.value) == f"guest.cfg:2: kernel {str(path)!r}: cannot open: No such file or directory"


def test_unreadable_device_tree_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match=r"^guest\.cfg:1: partial device tree '.*nope\.dtb': cannot open"):
        guest(f'device_tree = "{tmp_path}/nope.dtb"', read_files=True)
