"""Flattened device trees:

- read.py: the one reader of every blob, into the one Tree;
- tree.py: the one immutable tree (Tree, Node, Property);
- header.py: the header, vetted by libfdt before anything is read;
- cells.py: property values as cells, numbers and strings;
- dts.py: a tree as dtc prints its source;
- blob.py: writing through libfdt with libxl's mechanics.
"""
