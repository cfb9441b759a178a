"""Flattened device trees: the one reader (read.py) into the one immutable
tree (tree.py), the cell primitives (cells.py), the header checks
(header.py), the DTS printer (dts.py), and the one writer of libxl's and
Xen's trees: frozen nodes and their encoders (node.py), libfdt's
sequential writes and in-place edits (write.py), the node makers Xen
shares between dom0 and domUs (xen_nodes.py)."""
