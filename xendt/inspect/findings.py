"""What `xendt check` reports: findings, one line each, and the report
that holds them (text or JSON). The rules are in xendt.inspect.check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xendt.documents import document

LEVELS = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One result of a rule.

    level:
      "error", "warning" or "info".
    rule:
      the rule's name (see the module docstring).
    node, prop:
      where: a node path, and a property name or "".
    message:
      one line: what is wrong, why it matters, what was expected.
    """

    level: str
    rule: str
    node: str
    prop: str
    message: str

    def __str__(self) -> str:
        where = f"{self.node}:{self.prop}" if self.prop else self.node
        return f"{self.level}: {where}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class Report:
    """What `check` found.

    file:
      the checked file's name.
    xen, xen_source:
      the Xen version checked against and where it came from.
    ipa_bits, ipa_source:
      the IPA size regions were checked against and why that one.
    page_size:
      the Linux page size assumed for unpopulated-alloc.
    findings:
      in rule order, then tree order.
    """

    file: str
    xen: str
    xen_source: str
    ipa_bits: int
    ipa_source: str
    page_size: int
    findings: tuple[Finding, ...]

    def count(self, level: str) -> int:
        return sum(1 for f in self.findings if f.level == level)

    @property
    def errors(self) -> int:
        return self.count("error")

    def text(self) -> str:
        lines = [f"{self.file}: {f}" for f in self.findings]
        counts = ", ".join(f"{self.count(level)} {level}"
                           + ("s" if self.count(level) != 1 and level != "info" else "")
                           for level in LEVELS)
        lines.append(f"{self.file}: {counts} (Xen {self.xen} from {self.xen_source};"
                     f" {self.ipa_bits}-bit IPA, {self.ipa_source};"
                     f" {self.page_size // 1024}K pages)")
        return "\n".join(lines) + "\n"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.file,)

    def to_dict(self) -> dict[str, Any]:
        """The "xendt.check/1" document: what `xendt check --format json` prints."""
        from dataclasses import asdict

        from xendt.documents import envelope

        return envelope("check", self.xen, self.inputs, (), "check", {
            "xen_source": self.xen_source, "ipa_bits": self.ipa_bits,
            "ipa_source": self.ipa_source, "page_size": self.page_size, "errors": self.errors,
            "findings": [asdict(f) for f in self.findings]})

    def to_json(self) -> str:
        """to_dict() as the text `xendt check --format json` prints."""
        return document(self.to_dict())

    json = to_json
