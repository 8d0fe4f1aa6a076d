"""Every scenario in scenarios/ plays through with all its expectations met, deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnmsim.scenario import Scenario

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


def _play(path: Path) -> list[tuple[str, str, int, list[str], list[str]]]:
    sc = Scenario.load(path)
    rows = []
    for out in sc.play(sc.build()):
        r = out.result
        events = [f"{e.host}/{e.ns}/{e.dev} {e.stage} {e.verdict} {e.reason}" for e in r.trace] if r else []
        rows.append((out.step.text, r.stdout if r else "", r.exit_code if r else 0, out.failures, events))
    return rows


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 2


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_meets_its_expectations(path: Path) -> None:
    rows = _play(path)
    failed = [(text, fails) for text, _, _, fails, _ in rows if fails]
    assert not failed, failed
    assert any(s.expect for s in Scenario.load(path).steps), "a scenario states what it shows"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_same_seed_same_transcript_and_trace(path: Path) -> None:
    assert _play(path) == _play(path)
