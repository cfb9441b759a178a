"""One validation for every route into a guest (xendt.guest.validate): a
GuestConfig made from flags, xl.cfg, JSON or Python passes the same checks
and fails with the same words, after each route's own location."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import run_cli
from xendt.errors import ConfigError, FieldError, FieldTypeError
from xendt.guest import xlcfg
from xendt.guest.jsonio import guest_from_json
from xendt.guest.model import GuestConfig, Host, Kernel

NUL = "a NUL character at offset 1: libxl's strings end at the first NUL"
NR_SPIS = "expected 0 to 4294967295 (libxl's nr_spis is a uint32), got 4294967296"


def refused(make) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as e:
        make()
    return str(e.value)


def test_a_nul_in_the_command_line_is_refused_alike_by_python_json_and_xl_cfg():
    assert refused(lambda: GuestConfig(cmdline="a\0b")) == f"GuestConfig.cmdline: {NUL}"
    assert refused(lambda: guest_from_json('{"guest": {"cmdline": "a\\u0000b"}}', "g.json")) \
        == f"g.json: guest.cmdline: {NUL}"
    cfg = xlcfg.parse('cmdline = "a\0b"\n', "g.cfg")
    assert refused(lambda: xlcfg.guest_config(cfg, kernel=Kernel())) == f"g.cfg:1: cmdline: {NUL}"


def test_nr_spis_beyond_32_bits_is_refused_alike_by_every_route(capsysbinary):
    assert refused(lambda: GuestConfig(nr_spis=1 << 32)) == f"GuestConfig.nr_spis: {NR_SPIS}"
    assert refused(lambda: guest_from_json('{"guest": {"nr_spis": 4294967296}}', "g.json")) \
        == f"g.json: guest.nr_spis: {NR_SPIS}"
    cfg = xlcfg.parse("nr_spis = 4294967296\n", "g.cfg")
    assert refused(lambda: xlcfg.guest_config(cfg, kernel=Kernel())) == f"g.cfg:1: nr_spis: {NR_SPIS}"
    code, _, err = run_cli("build", "--nr-spis", "4294967296", "-o", "/dev/null",
                           capsysbinary=capsysbinary)
    assert (code, err) == (2, f"xendt: --nr-spis: {NR_SPIS}\n")


def test_a_wrong_python_type_is_both_a_type_error_and_a_config_error():
    with pytest.raises(FieldTypeError) as e:
        GuestConfig(max_vcpus="2")  # type: ignore[arg-type]
    assert isinstance(e.value, TypeError) and isinstance(e.value, ConfigError)
    assert (e.value.owner, e.value.field, e.value.problem) == (
        "GuestConfig", "max_vcpus", "expected an integer, got '2'")


def test_replace_checks_again():
    with pytest.raises(FieldError, match=r"^Host\.clock_frequency: expected 0 to 4294967295 Hz"):
        dataclasses.replace(Host(), clock_frequency=1 << 40)


def test_what_every_route_gives_is_accepted_by_the_model():
    cfg = xlcfg.parse('memory = 64\nvcpus = 2\ngic_version = "V3"\ntee = "OPTEE"\n', "g.cfg")
    guest, _ = xlcfg.guest_config(cfg, kernel=Kernel())
    assert dataclasses.replace(guest) == guest


def test_a_field_error_pickles_whole():
    import pickle

    error = pickle.loads(pickle.dumps(FieldTypeError("GuestConfig", "vuart", "expected true or false")))
    assert (type(error), str(error), error.field) == (
        FieldTypeError, "GuestConfig.vuart: expected true or false", "vuart")
