"""xl.cfg files as xl reads them, and the guest configuration they describe.

Three layers:

* syntax.py: parse() and load() read the xl.cfg syntax exactly as libxlu
  accepts it (tools/libs/util/libxlu_cfg_l.l, libxlu_cfg_y.y, libxlu_cfg.c)
  into an XlConfig;
* settings.py: XlConfig, a read-only mapping from setting name to value,
  and with_flags(), which lays command-line settings over one (apart from
  the parser, so that a build from flags never loads it);
* disk.py, devices.py: the spec strings of the list settings, as libxlu and xl
  read them: parse_disk (libxlu_disk_l.l), parse_virtio, parse_iomem
  (tools/xl/xl_parse.c), parse_pci (libxlu_pci.c).
* config.py: guest_config() interprets the settings that decide an Arm
  guest's device tree as tools/xl/xl_parse.c and libxl do, giving a
  model.GuestConfig and xl-style warnings; load_guest() is load() then
  guest_config(); kernel_cmdline() is xl's parse_cmdline.

Everything public is re-exported here: use ``xendt.guest.xlcfg.NAME``
(the parser and the spec parsers are imported on first use, as a build
from flags reads no file and most guests have no such list).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xendt.guest.xlcfg.config import guest_config, kernel_cmdline, load_guest
from xendt.guest.xlcfg.settings import XlConfig, XlSetting, XlValue, with_flags

if TYPE_CHECKING:  # imported on first use (_LAZY)
    from xendt.guest.xlcfg.syntax import load, parse

__all__ = [
    "PciDevice",
    "XlConfig",
    "XlSetting",
    "XlValue",
    "guest_config",
    "kernel_cmdline",
    "load",
    "load_guest",
    "parse",
    "parse_disk",
    "parse_iomem",
    "parse_pci",
    "parse_virtio",
    "with_flags",
]

#: Names imported on first use, by module.
_LAZY = {"PciDevice": "devices", "parse_iomem": "devices", "parse_pci": "devices",
         "parse_virtio": "devices", "parse_disk": "disk", "load": "syntax", "parse": "syntax"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
