"""Flattened device trees:

- read.py: the one reader of every blob, into the one Tree;
- tree.py: the one immutable tree (Tree, Node, Property);
- header.py: the header, vetted by libfdt before anything is read;
- cells.py: property values as cells, numbers and strings;
- dts.py: a tree as dtc prints its source;
- node.py: the frozen nodes libxl's and Xen's trees are built from, and their encoders;
- write.py: the one writer: libfdt's sequential writes, buffer policies, in-place edits;
- xen_nodes.py: the node makers Xen shares between dom0 and domUs.
"""
