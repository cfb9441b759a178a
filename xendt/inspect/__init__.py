"""Any device tree read back: addresses and interrupts as Linux reads them
(linux.py), the guest address map named from a layout (addressmap.py),
values by meaning (values.py), and show, check and diff."""
