"""xendt.guest.images: kernel, ramdisk and partial DT files as libxenguest reads them."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import pytest

from xendt.errors import ImageError
from xendt.guest import images
from xendt.guest.model import Kernel

ARM64_MAGIC1 = b"ARM\x64"


def arm64_image(size: int = 4096, text_offset: int = 0, magic0: int = 0, magic1: bytes = ARM64_MAGIC1,
                fill: bytes = b"\xaa") -> bytes:
    """A synthetic arm64 Image: the 64-byte header, then filler."""
    header = struct.pack("<IIQQQQQQ4sI", magic0, 0, text_offset, size, 0, 0, 0, 0, magic1, 0)
    assert len(header) == 64
    return header + fill * (size - len(header))


def zimage(size: int = 4096) -> bytes:
    """A synthetic arm32 zImage: magic at 0x24, start/end fields at 0x28/0x2c."""
    data = bytearray(b"\x00" * size)
    struct.pack_into("<III", data, 0x24, 0x016F2818, 0, 0x1000)  # end field != file size
    return bytes(data)


def write(tmp_path: Path, data: bytes, name: str = "kernel") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_arm64_image_segment_is_the_file_size(tmp_path):
    path = write(tmp_path, arm64_image(size=10000, text_offset=0x80000))
    assert images.read_kernel(path) == Kernel(arch="arm64", size=10000, text_offset=0x80000)


def test_arm64_image_header_image_size_field_is_not_used(tmp_path):
    data = bytearray(arm64_image(size=8192))
    struct.pack_into("<Q", data, 16, 0x123456)  # image_size says otherwise
    assert images.read_kernel(write(tmp_path, bytes(data))).size == 8192


def test_arm64_image_with_only_the_old_magic0_is_accepted(tmp_path):
    path = write(tmp_path, arm64_image(magic0=0x14000008, magic1=b"\0\0\0\0"))
    assert images.read_kernel(path).arch == "arm64"


def test_arm32_zimage_segment_is_the_file_size_not_its_end_field(tmp_path):
    path = write(tmp_path, zimage(size=8000))
    assert images.read_kernel(path) == Kernel(arch="arm32", size=8000, text_offset=0)


def test_file_with_both_magics_is_arm64_probed_first(tmp_path):
    data = bytearray(arm64_image(size=4096, text_offset=0x1000))
    struct.pack_into("<I", data, 0x24, 0x016F2818)
    assert images.read_kernel(write(tmp_path, bytes(data))).arch == "arm64"


def test_reference_sized_image_is_not_read_whole(tmp_path):
    # 38,928,896 bytes (the reference cases' Image), sparse: only the header is written.
    path = tmp_path / "Image"
    with open(path, "wb") as f:
        f.write(arm64_image(size=64))
        f.truncate(38_928_896)
    assert images.read_kernel(path) == Kernel(arch="arm64", size=38_928_896, text_offset=0)


def test_gzip_image_size_is_uncompressed_size_plus_16(tmp_path):
    raw = arm64_image(size=100_000, text_offset=0x200000)
    path = write(tmp_path, gzip.compress(raw))
    assert images.read_kernel(path) == Kernel(arch="arm64", size=100_016, text_offset=0x200000)


def test_gzip_zimage_is_probed_after_inflating(tmp_path):
    path = write(tmp_path, gzip.compress(zimage(size=5000)))
    assert images.read_kernel(path) == Kernel(arch="arm32", size=5016, text_offset=0)


def test_gzip_trailer_size_disagreeing_with_the_data_is_corrupt(tmp_path):
    data = bytearray(gzip.compress(arm64_image(size=4096)))
    struct.pack_into("<I", data, len(data) - 4, 10_000)  # zlib checks ISIZE at the end
    with pytest.raises(ImageError, match=r"corrupt gzip data: .*incorrect length check"):
        images.read_kernel(write(tmp_path, bytes(data)))


def test_gzip_inflating_beyond_the_trailer_size_is_refused(tmp_path):
    # The trailer read is the file's last 4 bytes: here a second, smaller member's.
    data = gzip.compress(arm64_image(size=4096)) + gzip.compress(b"x" * 100)
    path = write(tmp_path, data)
    with pytest.raises(ImageError) as e:
        images.read_kernel(path)
    assert str(e.value) == (f"kernel {str(path)!r}: gzip data inflates to more than 116 bytes,"
                            " the buffer libxenguest sizes from its trailer (100 + 16)")


def test_gzip_only_first_member_is_inflated_and_last_trailer_sizes_it(tmp_path):
    data = gzip.compress(arm64_image(size=2000)) + gzip.compress(b"x" * 3000)
    assert images.read_kernel(write(tmp_path, data)).size == 3016


def test_gzip_trailer_over_1_gib_leaves_the_file_compressed(tmp_path):
    data = bytearray(gzip.compress(arm64_image(size=4096)))
    struct.pack_into("<I", data, len(data) - 4, (1 << 30) - 15)  # ISIZE + 16 > 1 GiB
    path = write(tmp_path, bytes(data))
    with pytest.raises(ImageError) as e:
        images.read_kernel(path)
    assert str(e.value) == (
        f"kernel {str(path)!r}: not an arm32 zImage or arm64 Image (its gzip trailer claims"
        f" {(1 << 30) - 15} bytes uncompressed, more than libxenguest inflates, so it stays"
        " compressed)")


def test_truncated_gzip_is_refused(tmp_path):
    raw = arm64_image(size=64) + random.Random(0).randbytes(50_000)
    data = gzip.compress(raw)
    path = write(tmp_path, data[:len(data) // 2] + struct.pack("<I", len(raw)))
    with pytest.raises(ImageError, match="truncated gzip data"):
        images.read_kernel(path)


def test_corrupt_gzip_is_refused(tmp_path):
    data = bytearray(gzip.compress(arm64_image(size=4096)))
    data[-8] ^= 0xFF  # CRC32 of the member
    with pytest.raises(ImageError, match=r"corrupt gzip data: .*incorrect data check"):
        images.read_kernel(write(tmp_path, bytes(data)))


def test_other_file_is_not_a_kernel(tmp_path):
    path = write(tmp_path, b"\x7fELF" + b"\0" * 200)
    with pytest.raises(ImageError) as e:
        images.read_kernel(path)
    assert str(e.value) == f"kernel {str(path)!r}: not an arm32 zImage or arm64 Image"


def test_image_shorter_than_its_header_is_not_a_kernel(tmp_path):
    with pytest.raises(ImageError, match="not an arm32 zImage or arm64 Image"):
        images.read_kernel(write(tmp_path, arm64_image(size=64)[:63]))


def test_xz_compressed_kernel_is_not_a_kernel(tmp_path):
    lzma = pytest.importorskip("lzma")
    with pytest.raises(ImageError, match="not an arm32 zImage or arm64 Image"):
        images.read_kernel(write(tmp_path, lzma.compress(arm64_image())))


def test_empty_kernel_is_refused(tmp_path):
    path = write(tmp_path, b"")
    with pytest.raises(ImageError) as e:
        images.read_kernel(path)
    assert str(e.value) == f"kernel {str(path)!r}: empty file (libxenguest refuses a zero-length file)"


def test_missing_kernel_names_path_and_reason(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(ImageError) as e:
        images.read_kernel(path)
    assert str(e.value) == f"kernel {str(path)!r}: cannot read: No such file or directory"


def test_kernel_over_1_gib_is_refused(tmp_path):
    path = tmp_path / "huge"
    with open(path, "wb") as f:
        f.write(arm64_image(size=64))
        f.truncate((1 << 30) + 1)
    with pytest.raises(ImageError) as e:
        images.read_kernel(path)
    assert str(e.value) == (f"kernel {str(path)!r}: 1073741825 bytes, more than libxenguest's"
                            " limit of 1073741824 bytes (1 GiB)")


def test_ramdisk_size_is_the_file_size_even_if_gzip(tmp_path):
    assert images.ramdisk_size(write(tmp_path, gzip.compress(b"x" * 5000), "initrd")) == len(
        gzip.compress(b"x" * 5000))


def test_ramdisk_size_of_sparse_file(tmp_path):
    path = tmp_path / "initrd"
    with open(path, "wb") as f:
        f.truncate(12_345_678)
    assert images.ramdisk_size(path) == 12_345_678


def test_empty_ramdisk_is_refused(tmp_path):
    with pytest.raises(ImageError, match=r"^ramdisk '.*initrd': empty file"):
        images.ramdisk_size(write(tmp_path, b"", "initrd"))


def test_missing_ramdisk_names_path_and_reason(tmp_path):
    path = tmp_path / "initrd"
    with pytest.raises(ImageError) as e:
        images.ramdisk_size(path)
    assert str(e.value) == f"ramdisk {str(path)!r}: cannot read: No such file or directory"


def test_ramdisk_over_1_gib_is_refused(tmp_path):
    path = tmp_path / "initrd"
    with open(path, "wb") as f:
        f.truncate((1 << 30) + 4096)
    with pytest.raises(ImageError, match="more than libxenguest's limit"):
        images.ramdisk_size(path)


def test_directory_is_not_a_ramdisk(tmp_path):
    with pytest.raises(ImageError, match=r"^ramdisk '.*': (cannot open|cannot read): Is a directory"):
        images.ramdisk_size(tmp_path)


def test_read_device_tree_returns_the_bytes_unvalidated(tmp_path):
    assert images.read_device_tree(write(tmp_path, b"not a dtb", "pt.dtb")) == b"not a dtb"


def test_missing_device_tree_names_path_and_reason(tmp_path):
    path = tmp_path / "pt.dtb"
    with pytest.raises(ImageError) as e:
        images.read_device_tree(path)
    assert str(e.value) == f"partial device tree {str(path)!r}: cannot read: No such file or directory"
