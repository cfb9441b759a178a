"""Flattened device trees: the one reader (read.py) into the one immutable
tree (tree.py), the cell primitives (cells.py), the header checks
(header.py), the DTS printer (dts.py), and writing through libfdt with
libxl's mechanics (blob.py)."""
