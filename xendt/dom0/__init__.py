"""dom0's device tree, as the Xen hypervisor writes it at boot from the host
DT (prepare_dtb_hwdom): xendt.dom0.build.build, xendt.dom0.api.build_dom0."""
