"""Accessibility checks for the browser tests: axe-core findings, errors tied to their fields, visible keyboard focus.

axe-core comes from the axe-playwright-python package (its bundled axe.min.js); it is injected once per loaded page
and run at each viewport, so a page costs one load and one injection however many sizes it is checked at.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

BLOCKING = ("critical", "serious")
IMPACTS = ("critical", "serious", "moderate", "minor")
_AXE_SCRIPT = Axe().axe_script


@dataclass(frozen=True)
class Finding:
    page: str  # "merchant /sync [ru, phone]"
    rule: str
    impact: str
    targets: tuple[str, ...]
    help: str

    def line(self) -> str:
        shown = ", ".join(self.targets[:3]) + (f" (+{len(self.targets) - 3} more)" if len(self.targets) > 3 else "")
        return f"{self.page}: {self.rule} ({self.impact}, {len(self.targets)}) {self.help} -> {shown}"


def axe_findings(page, label: str) -> list[Finding]:
    """axe-core's violations on the page as it is now (all rules of the default run: WCAG A/AA and best practice)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_AXE_SCRIPT)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        Finding(
            label,
            v["id"],
            v["impact"] or "minor",
            tuple(" ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"]) for n in v["nodes"]),
            v["help"],
        )
        for v in result["violations"]
    ]


# Every control marked invalid (Bootstrap's .is-invalid or aria-invalid) must say so to assistive technology and
# point at the visible message: aria-invalid="true" and aria-describedby naming an element with the error text.
_ERRORS_JS = """() => [...document.querySelectorAll('.is-invalid, [aria-invalid="true"]')].map(el => {
  const ids = (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
  const told = ids.map(id => document.getElementById(id)).filter(Boolean);
  return {
    name: el.name || el.id || el.outerHTML.slice(0, 80),
    ariaInvalid: el.getAttribute('aria-invalid'),
    described: told.some(d => d.classList.contains('invalid-feedback') && d.textContent.trim().length > 0),
  };
})"""


def unlinked_errors(page) -> tuple[int, list[str]]:
    """(number of invalid controls, the ones whose error is not tied to them)."""
    fields = page.evaluate(_ERRORS_JS)
    bad = [
        f"{f['name']}: aria-invalid={f['ariaInvalid']!r}, error in aria-describedby={f['described']}"
        for f in fields
        if f["ariaInvalid"] != "true" or not f["described"]
    ]
    return len(fields), bad


# The focus indicator must be an outline (or Bootstrap's box-shadow ring) whose colour has 3:1 contrast with what it
# is drawn on (WCAG 2.4.7 Focus Visible, with 1.4.11's non-text contrast as the measure of "visible").
_FOCUS_JS = (Path(__file__).parent / "focus_indicator.js").read_text(encoding="utf-8")


def unseen_focus(page, presses: int) -> tuple[int, list[str]]:
    """Tab through the page from its top: (stops reached, the stops whose focus is not visible enough)."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    stops, bad, seen = 0, [], set()
    for _ in range(presses):
        page.keyboard.press("Tab")
        focus = page.evaluate(_FOCUS_JS)
        if focus is None or focus["what"] in seen:
            continue
        seen.add(focus["what"])
        stops += 1
        if not focus["shown"] or focus["contrast"] < 3:
            bad.append(f"{focus['what']}: {focus['how']} (contrast {focus['contrast']}:1)")
    return stops, bad


@dataclass
class Report:
    """Findings of a walk, and the per-page counts the test prints (the before/after figures of issue 25)."""

    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    seconds: dict[str, float] = field(default_factory=dict)

    def check(self, page, page_key: str) -> None:
        """Run axe on the page as it is now and keep its findings under page_key."""
        started = time.perf_counter()
        found = axe_findings(page, page_key)
        self.seconds[page_key] = time.perf_counter() - started
        self.counts[page_key]  # a page with no finding is listed too
        for f in found:
            self.findings.append(f)
            self.counts[page_key][f.impact] += len(f.targets)

    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.impact in BLOCKING]

    def table(self) -> str:
        """Elements found per page and impact, and the seconds axe took there (the test runs in `make test`)."""
        lines = [f"{'page':60} {'crit':>4} {'ser':>4} {'mod':>4} {'min':>4} {'axe s':>6}"]
        for key in sorted(self.counts):
            c = self.counts[key]
            lines.append(
                f"{key:60} {c['critical']:>4} {c['serious']:>4} {c['moderate']:>4} {c['minor']:>4}"
                f" {self.seconds.get(key, 0):>6.2f}"
            )
        lines.append(f"{len(self.seconds)} axe-core runs, {sum(self.seconds.values()):.1f} s")
        return "\n".join(lines)

    def dump(self, path: str) -> None:
        """Every finding with all its elements, as JSON lines (EVOSYNC_A11Y_REPORT=path)."""
        with open(path, "a", encoding="utf-8") as out:
            for f in self.findings:
                out.write(json.dumps(asdict(f), ensure_ascii=False) + "\n")

    def minor_lines(self) -> list[str]:
        """Moderate and minor findings, one line per page and rule."""
        return [f.line() for f in self.findings if f.impact not in BLOCKING]
