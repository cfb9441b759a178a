# xendt in a Makefile: one guest DTB per xl.cfg, rebuilt when the config or
# its kernel changes. -q keeps the build log quiet; --warnings-as-errors fails
# the build on any warning (exit 1), and then writes nothing, so make does not
# take a half-right DTB for done. --rng-seed none: the same bytes every build.
#   make -f examples/embed/guest.mk out/guest.dtb
XENDT ?= xendt
XEN ?= 4.21
GUESTS ?= examples/guest
OUT ?= out

$(OUT)/%.dtb: $(GUESTS)/%.cfg $(GUESTS)/Image
	mkdir -p $(OUT)
	$(XENDT) build --xen $(XEN) -c $< --rng-seed none -q --warnings-as-errors -o $@
