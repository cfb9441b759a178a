"""xendt.guest.xlcfg.syntax: the xl.cfg syntax as libxlu reads it (parse, load,
with_flags), and the package's public names and lazy start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xendt.errors import ConfigError, XlConfigSyntaxError
from xendt.guest import xlcfg


def cfg(text: str, filename: str = "guest.cfg") -> xlcfg.XlConfig:
    return xlcfg.parse(text, filename)


def test_parse_gives_strings_numbers_and_lists():
    c = cfg('name = "vm1"\nmemory = 1024\ndisk = [ "a", \'b\' ]\n')
    assert dict(c) == {"name": "vm1", "memory": 1024, "disk": ("a", "b")}


@pytest.mark.parametrize("text, value", [
    ("0x400", 0x400), ("010", 8), ("0", 0), ("12", 12), ("0x", "0x"), ("12ab", "12ab"), ("08", "08"),
])
def test_bare_number_is_int_when_strtol_reads_it_whole(text, value):
    assert cfg(f"x = {text}")["x"] == value


def test_quoted_number_stays_a_string():
    assert cfg('memory = "1024"')["memory"] == "1024"


def test_numbers_in_lists_stay_strings():
    assert cfg("cpus = [1, 0x2]")["cpus"] == ("1", "0x2")


def test_semicolons_separate_settings():
    assert dict(cfg("a = 1; b = 2;; c = 3")) == {"a": 1, "b": 2, "c": 3}


def test_last_setting_wins_and_keeps_first_position():
    c = cfg("a = 1\nb = 2\na = 3\n")
    assert list(c.items()) == [("a", 3), ("b", 2)]
    assert c.line("a") == 3


def test_plus_equals_appends_strings_and_lists():
    c = cfg('x = "ab"\nx += "cd"\nl = ["1"]\nl += ["2", "3"]\n')
    assert c["x"] == "abcd" and c["l"] == ("1", "2", "3")
    assert c.setting("x").added


def test_plus_equals_of_numbers_concatenates_their_text():
    assert cfg("x = 10\nx += 24")["x"] == "1024"


def test_plus_equals_without_earlier_setting_is_an_assignment():
    assert cfg('x += "a"')["x"] == "a"


def test_list_spans_lines_with_comments_and_trailing_comma():
    c = cfg('disk = [\n  "a",   # first\n\n  "b",\n]\nx = 1\n')
    assert c["disk"] == ("a", "b") and c["x"] == 1


def test_empty_and_nested_lists():
    assert dict(cfg('a = []\nb = [\n]\nc = [["p=1", "q"], "r"]')) == {
        "a": (), "b": (), "c": (("p=1", "q"), "r")}


def test_last_setting_may_end_at_end_of_file():
    assert cfg('a = "x"')["a"] == "x"


def test_comment_lines_and_blank_lines_are_ignored():
    assert dict(cfg("# comment\n\n   \n\ta = 1 # trailing\n#\n")) == {"a": 1}


def test_string_escapes():
    assert cfg(r'''s = "q\"\'\\\a\b\f\n\r\t\v" ''')["s"] == "q\"'\\\a\b\f\n\r\t\v"


def test_single_quoted_string_with_double_quote():
    assert cfg("s = 'say \"hi\"'")["s"] == 'say "hi"'


def test_octal_escape_is_dropped_as_libxlu_does():
    assert cfg(r's = "a\101b"')["s"] == "ab"


def test_setting_records_value_line_and_column():
    c = cfg('\n\n  kernel  =  "/k"\n', "vm.cfg")
    s = c.setting("kernel")
    assert (s.line, s.column, s.text) == (3, 14, "/k")
    assert c.where("kernel") == "vm.cfg:3"


def test_setting_text_keeps_number_as_written():
    assert cfg("x = 0x10").setting("x").text == "0x10"


def test_xlconfig_is_read_only():
    c = cfg("a = 1")
    with pytest.raises(TypeError):
        c["a"] = 2  # type: ignore[index]


@pytest.mark.parametrize("text, message", [
    ("memory = 1024 # no newline", "g.cfg:1:15: comment at the end of the file lacks a newline"
     " (xl's parser needs one)"),
    ("Memory = 1\n", "g.cfg:1:1: unexpected 'M': names and bare numbers in xl.cfg are lower case"),
    ("x = 0x1F\n", "g.cfg:1:8: unexpected 'F': names and bare numbers in xl.cfg are lower case"),
    ("_x = 1\n", "g.cfg:1:1: unexpected '_': a setting name starts with a letter a-z"),
    ("a = 1\nb = 2 + 3\n", "g.cfg:2:7: unexpected '+': xl.cfg is not Python, it has no expressions"),
    ("a = -1\n", "g.cfg:1:5: unexpected '-': xl.cfg is not Python, it has no expressions"),
    ('a = "abc\n', 'g.cfg:1:5: unterminated string: " … " must close on the same line'),
    ("a = 1\r\n", "g.cfg:1:6: carriage return: xl.cfg needs Unix line endings (\\n, not \\r\\n)"),
    ("a = {}\n", "g.cfg:1:5: unexpected character '{'"),
    ("a =\n1\n", "g.cfg:1:4: expected a value (a string, a number or '['), got end of line"),
    ("a = 1 2\n", "g.cfg:1:7: expected end of line or ';' after the value, got number 2"),
    ('a = "x" b\n', "g.cfg:1:9: expected end of line or ';' after the value, got name 'b'"),
    ("a 1\n", "g.cfg:1:3: expected '=' or '+=' after 'a', got number 1"),
    ("= 1\n", "g.cfg:1:1: expected a setting name, got '='"),
    ('"a" = 1\n', "g.cfg:1:1: expected a setting name, got string 'a'"),
    ("a = [1,,2]\n", "g.cfg:1:8: expected a value (a string, a number or '['), got ','"),
    ("a = [,]\n", "g.cfg:1:6: expected a value (a string, a number or '['), got ','"),
    ("a = [1 2]\n", "g.cfg:1:8: expected ',' or ']' in the list, got number 2"),
    ("a = [1,\n", "g.cfg:2:1: expected a value (a string, a number or '['), got end of file"),
    ("a = ]\n", "g.cfg:1:5: expected a value (a string, a number or '['), got ']'"),
    (r'a = "\x41"', "g.cfg:1:6: hex escape \\x…: xl rejects every \\x escape in a string"),
    (r'a = "\1"', "g.cfg:1:6: octal escape \\1 that xl cannot parse (it reads 2 more digits)"),
    (r'a = "\q"', "g.cfg:1:6: invalid escape \\q in a string"),
    ('a = "x"\na += ["y"]\n', "g.cfg:2:6: cannot add a list to a string with a +="),
    ('a = ["x"]\na += "y"\n', "g.cfg:2:6: cannot add a string to a list with a +="),
])
def test_syntax_error_message(text, message):
    with pytest.raises(XlConfigSyntaxError) as e:
        xlcfg.parse(text, "g.cfg")
    assert str(e.value) == message


def test_first_error_in_the_file_is_reported():
    with pytest.raises(XlConfigSyntaxError, match=r"^g\.cfg:1:7:"):
        xlcfg.parse("a = 1 2\nB = 3\n", "g.cfg")


def test_load_reads_the_file(tmp_path):
    path = tmp_path / "vm.cfg"
    path.write_bytes(b'kernel = "/boot/\xff"\n')
    c = xlcfg.load(path)
    assert c.filename == str(path) and c["kernel"] == "/boot/\udcff"


def test_load_of_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError) as e:
        xlcfg.load(tmp_path / "nope.cfg")
    assert str(e.value) == f"{tmp_path / 'nope.cfg'}: cannot read: No such file or directory"


# ---------------------------------------------------------------------------
# The package


def test_package_exports_the_public_names_of_its_modules():
    assert sorted(xlcfg.__all__) == [
        "PciDevice", "XlConfig", "XlSetting", "XlValue", "guest_config", "kernel_cmdline",
        "load", "load_guest", "parse", "parse_disk", "parse_iomem", "parse_pci",
        "parse_virtio", "with_flags"]
    assert all(hasattr(xlcfg, name) for name in xlcfg.__all__)


def test_the_public_load_xl_config_reads_as_load_guest(tmp_path):
    import xendt
    kernel = tmp_path / "Image"
    kernel.write_bytes(bytes(56) + b"ARM\x64" + bytes(4096))  # arm64 Image magic at 56
    cfg = tmp_path / "g.cfg"
    cfg.write_text(f'memory = 64\nvcpus = 2\nkernel = "{kernel}"\n')
    guest, warnings = xlcfg.load_guest(cfg)
    assert xendt.load_xl_config(cfg) == (guest, tuple(warnings))
    assert xendt.load_xl_config(text=cfg.read_text(), name=str(cfg)) == (guest, tuple(warnings))


def test_import_compiles_no_regex():
    # The CLI starts thousands of times: the lexers' regexes wait for first use.
    code = ("import xendt.guest.xlcfg\n"
            "from xendt.guest.xlcfg import disk, syntax\n"
            "print(syntax._lexeme.cache_info().currsize, disk._disk_rules.cache_info().currsize)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout == "0 0\n"


# --- bounds ----------------------------------------------------------------------

def test_lists_nested_64_deep_are_read():
    assert cfg("x = " + "[" * 64 + "]" * 64)["x"] is not None


def test_lists_nested_deeper_than_64_are_refused_in_one_line():
    with pytest.raises(XlConfigSyntaxError) as e:
        cfg("x = " + "[" * 300_000 + "]" * 300_000)
    assert str(e.value) == "guest.cfg:1:69: lists nested more than 64 deep (xl's settings nest 2 deep)"


@pytest.mark.parametrize("digits", ["9" * 5000, "0x" + "f" * 5000, "0" + "7" * 5000])
def test_a_number_of_5000_digits_is_out_of_range_not_converted(digits):
    # strtol saturates and sets ERANGE, which xlu_cfg_get_long refuses
    # (tools/libs/util/libxlu_cfg.c @ RELEASE-4.21.0).
    assert xlcfg.syntax._strtol(digits) == 1 << 80
    assert xlcfg.syntax._strtol("-" + digits) == -(1 << 80)


def test_leading_zeros_do_not_count_as_digits():
    assert xlcfg.syntax._strtol("0" * 100 + "17") == 0o17
