"""The device tree libxl builds for an `xl create` guest:

- model.py: the guest as libxl sees it and the host facts that decide its DT;
- validate.py: the one validation of the model;
- jsonio.py: the guest and its host as JSON;
- xlcfg/: xl.cfg files as xl reads them (syntax, device specs, config);
- images.py: the kernel, ramdisk and partial DT files, as the toolstack reads them;
- memory.py: libxenguest's RAM split and boot-module placement;
- regions.py: libxl's extended regions in /hypervisor;
- tree.py: the tree in libxl's order, node by node;
- partial.py: a partial DT (`device_tree=`), copied as libxl copies it;
- libxl_build.py: the build from start to finish (build, GuestDT).
"""
