"""The device tree libxl builds for an `xl create` guest: the guest model
(model.py), xl.cfg (xlcfg/), kernel and ramdisk files (images.py),
libxenguest's RAM split and module placement (memory.py), libxl's extended
regions (regions.py), the tree in libxl's order (tree.py), the partial DT
copy (partial.py), and the build from start to finish (builder.py)."""
