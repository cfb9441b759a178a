"""The test vectors of the Xen facts (xen-guest-dt.md §10, the project's facts sheet): three
guests built by libxl's own code for nine releases, given there as SHA-256
of the whole blob. They cover versions that golden/ has no blob for (4.15,
4.17, 4.19, 4.20, 4.22), so xendt's data files for those are checked here."""

from __future__ import annotations

import hashlib

import pytest

from conftest import dts_to_dtb
from xendt import GuestConfig, Host, Iomem, Kernel, VirtioDevice, VirtioDisk, build

SEED = b"\xa5" * 128

PARTIAL_DTS = """/dts-v1/;
/ {
    #address-cells = <2>; #size-cells = <2>;
    aliases { serial0 = "/passthrough/serial@1c090000"; };
    passthrough {
        compatible = "simple-bus"; ranges; #address-cells = <2>; #size-cells = <2>;
        serial@1c090000 {
            compatible = "arm,pl011"; reg = <0 0x1c090000 0 0x1000>; interrupts = <0 5 4>;
        };
    };
    other { foo = <1>; };
};
"""

# (version, vector, totalsize, sha256) from the facts' table.
VECTORS = [
    ("4.14", "T1", 1322, "2c0070daa7974d142bb43eb0fc2c1260c04f8b45e5d8c3a956a17b34ae2fc070"),
    ("4.14", "T2", 1808, "f3abb0c0ff041806b113a6069247c045d62c7450e28f7675bb000d6508a94626"),
    ("4.14", "T3", 3191, "7a399467006712635b1e92afac0efe8524ee7dbb1397ccf307360cd5c1071461"),
    ("4.15", "T1", 1322, "ba2379deaefd5e31b991b7090dca9f60bec62537a2ed05dfc2a92bbc05145f5b"),
    ("4.16", "T1", 1503, "1508c1bf1df92b69e3ce91f129fe30a1c9bf294dfc8b8fbbaf9c4146b31023f7"),
    ("4.16", "T2", 1989, "35ebcec0268f5baac2e9c20dd4191925772996b8a3b6882ca53b7c08c9235922"),
    ("4.16", "T3", 3633, "612949e2187b2bc7c52a0aac8027d791eedb137951a33b7cfb46b8dbd20d3605"),
    ("4.17", "T3", 4022, "9e3366b4ab8a6145682d06690916934e51654f2132eed66f0417bf7140c6491f"),
    ("4.18", "T3", 4278, "208d00d34408b97be70e1e65c3fd6d199c7f45009fb6af5624ec73dbd8584a51"),
    ("4.19", "T1", 1503, "5672032a7d0004f49c7ebf6a6b2de053aafc5a00fb16d4b4c1c974e5820f6a98"),
    ("4.19", "T2", 1989, "8dc6cdcacf6860218823aa19a9db66c455fd3733280d9a7b7a274edeb00c203a"),
    ("4.19", "T3", 4278, "1e1cfd152355291eba13539f5178a48e134cba7765d8ab6616a53a7a243faad1"),
    ("4.20", "T1", 1503, "117051102f9114be81895b89ac16b6edec5aeadca03f2033e328f0bb36d68ad1"),
    ("4.21", "T1", 5567, "cecf8dcd49fb23dbd5bbe3e896072905d8e5074492b73cbd31b5e2e02046c013"),
    ("4.21", "T2", 6053, "462cf9fd2e8902a9be00b4aa9ab13083ce44a3be019dee15d655c4a77fb30bb7"),
    ("4.21", "T3", 8342, "7c7f75be13e165efed9efb3c6eca7b76df7c88784adacb89f7a8578b34f57219"),
    ("4.22", "T1", 5567, "eaf9df0da2cc08b383e8e8cb77ce2b509cec64d2c52a79f531cc473ed83676cc"),
]


def vector(name: str, version: str) -> tuple[GuestConfig, Host]:
    newer = tuple(map(int, version.split(".")))
    if name == "T1":
        return (GuestConfig(memory_mib=1024, max_vcpus=2, gic_version="v3", cmdline="console=hvc0"),
                Host(xen=version, ipa_bits=48, rng_seed=SEED))
    if name == "T2":
        return (GuestConfig(memory_mib=3072, max_vcpus=4, gic_version="v2", vuart=True,
                            cmdline="root=/dev/xvda ro", kernel=Kernel("arm32", 8_388_608),
                            ramdisk_size=1_000_000),
                Host(xen=version, ipa_bits=40, clock_frequency=24_000_000, rng_seed=SEED))
    guest = GuestConfig(
        memory_mib=5000, max_vcpus=17, gic_version="v3", vuart=True, tee="optee",
        cmdline="console=hvc0", partial_dtb=dts_to_dtb(PARTIAL_DTS), iomem=(Iomem(0x90000, 0x1000),),
        pci_devices=1 if newer >= (4, 16) else 0,
        disks=(VirtioDisk(backend_domid=0), VirtioDisk(backend_domid=1)) if newer >= (4, 17) else (),
        virtio=(VirtioDevice(type="virtio,device29"),) if newer >= (4, 18) else ())
    return guest, Host(xen=version, ipa_bits=44, rng_seed=SEED)


@pytest.mark.parametrize("version,name,size,sha256", VECTORS, ids=[f"{v}-{n}" for v, n, _, _ in VECTORS])
def test_vector_matches_libxl_hash(version, name, size, sha256):
    dtb = build(*vector(name, version)).dtb
    assert len(dtb) == size
    assert hashlib.sha256(dtb).hexdigest() == sha256


def test_t2_initrd_lands_at_128_mib_with_page_rounded_end():
    result = build(*vector("T2", "4.19"))
    ramdisk = result.memory_map.segment("ramdisk")
    assert (ramdisk.base, ramdisk.end) == (0x48000000, 0x480F5000)
    assert result.memory_map.segment("dtb").base == 0x480F5000
