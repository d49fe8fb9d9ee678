"""The library says what its code does: no research log (BENCHMARKS sections, issue or session
numbers, one-off scripts) is cited in src/."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "d3prefiner"
LOG = re.compile(r"BENCHMARKS|(?i:\bissues? \d+|\b(first|second|third|[a-z]+th) session|scripts/)")


def citations(text: str) -> list[int]:
    """Line numbers (1-based) of ``text`` that cite the research log."""
    return [i for i, line in enumerate(text.splitlines(), 1) if LOG.search(line)]


def test_the_checker_sees_a_citation():
    text = 'x = 1\n# chosen in issue 8 (BENCHMARKS.md, "fifth session")\n# scripts/fold_bias.py\n'
    assert citations(text) == [2, 3]
    assert citations("def f():\n    return 'a session of training'\n") == []


def test_no_research_log_in_the_library():
    found = [
        f"{p.relative_to(SRC.parent)}:{n}"
        for p in sorted(SRC.rglob("*.py"))
        for n in citations(p.read_text(encoding="utf-8"))
    ]
    assert not found, f"research-log citations in src/: {found}"
