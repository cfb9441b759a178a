"""xendt.guest.xlcfg.disk and .devices: xl's disk, virtio, iomem and pci spec strings."""

from __future__ import annotations

import pytest

from xendt.errors import ConfigError
from xendt.guest import xlcfg
from xendt.guest.model import Iomem, VirtioDevice, VirtioDisk
from xendt.guest.xlcfg import PciDevice


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
