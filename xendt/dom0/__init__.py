"""dom0's device tree, as the Xen hypervisor writes it at boot from the host
DT (prepare_dtb_hwdom):

- build.py: the build from start to finish (build);
- api.py: the build in the public API's shapes (build_dom0, a GuestDT);
- inputs.py: what Xen reads from the host DT and its command line first;
- copy.py: the host DT copied node by node (handle_node, write_properties);
- gic.py: dom0's interrupt controller node (make_gic_node);
- memory.py: dom0's RAM banks as Xen allocates them, predicted;
- heap.py: Xen's buddy allocator, as far as dom0's 1:1 banks depend on it.
"""
