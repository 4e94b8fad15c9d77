"""A drill's verdict: PASS/FAIL, the checks behind it and the numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    name: str
    checks: list[tuple[bool, str]] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> bool:
        self.checks.append((bool(ok), text))
        return bool(ok)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for ok, _ in self.checks)

    def render(self) -> str:
        lines = [f"{'PASS' if self.ok else 'FAIL'} {self.name}"]
        lines += [f"  [{'ok' if ok else 'FAILED'}] {text}" for ok, text in self.checks]
        lines += [f"  note: {text}" for text in self.notes]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "checks": self.checks,
            "numbers": self.numbers,
            "notes": self.notes,
        }
