"""Every example runs, and the quickstart tells the story it promises."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest


EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_as_a_script(path):
    """``python examples/<name>.py`` exits 0 without writing to stderr."""
    result = subprocess.run(  # noqa: S603 - this interpreter on our own example file
        [sys.executable, str(path)], capture_output=True, text=True, check=False
    )
    assert (0, "") == (result.returncode, result.stderr)


def test_quickstart_records_the_whole_story(capsys):
    """The quickstart stores the lead, contact, deal and task with consecutive events."""
    main = runpy.run_path(str(EXAMPLES[0].with_name("quickstart.py")))["main"]
    events = main()
    expected = [
        ("lead_created", "lead 'L-1'", 1),
        ("contact_created", "contact 'C-1'", 1),
        ("lead_converted", "lead 'L-1'", 2),
        ("deal_created", "deal 'D-1'", 1),
        ("task_created", "task 'T-1'", 1),
    ]
    assert expected == [(type(e).TYPE, str(e.entity), e.sequence) for e in events]
    output = capsys.readouterr().out
    assert "Алмаз (C-1): deals ['D-1']" in output
    assert '"to_stage": "ОП ВЗЯЛ В РАБОТУ"' in output


def test_the_roofing_season_reports_and_writes_its_charts(tmp_path, capsys):
    """The main example plays the season and writes the diagrams and specs it promises."""
    main = runpy.run_path(str(EXAMPLES[0].with_name("roofing.py")))["main"]
    season = main([str(tmp_path)])
    output = capsys.readouterr().out
    assert season.requests > 1000
    for heading in ("funnel of «кровля»", "lost and junk reasons", "bottlenecks", "sources:"):
        assert heading in output
    assert season.merges  # the imported base's duplicates were merged
    with season.crm.store.unit_of_work() as uow:
        for record in season.merges:
            survivor, *merged = record.after
            assert all(uow.contacts.get(c.id).merged_into == survivor.id for c in merged)
    assert "merges done: " in output
    written = sorted(path.name for path in tmp_path.iterdir())
    assert ["flows.mmd", "funnel.vl.json", "pipeline.mmd", "time_in_stage.vl.json"] == written
    spec = json.loads((tmp_path / "funnel.vl.json").read_text(encoding="utf-8"))
    assert "УСПЕШНО РЕАЛИЗОВАНО" == spec["data"]["values"][-1]["stage"]


def test_seed_001_measures_its_two_blocks_apart(capsys):
    """The two-block pipeline: the lead block's flow quality, the deal block's cycle."""
    main = runpy.run_path(str(EXAMPLES[0].with_name("seed_001_two_blocks.py")))["main"]
    figures = main()
    assert figures["cards"] == 720
    assert 0.1 < figures["not_target_share"] < 0.3
    assert 0 < figures["to_deals_share"] < 1
    assert 0 < figures["deal_block_win_rate"] <= 1
    assert figures["first_handling_hours"] <= 3  # handled within 0.1-3 hours by design
    output = capsys.readouterr().out
    assert "block «Лиды»" in output
    assert "block «Сделки»" in output


def test_the_charts_are_drawn_as_svg_and_png(tmp_path):
    """vl-convert draws the funnel and the time in stage from funnelkit's Vega-Lite specs."""
    from examples import charts  # noqa: PLC0415 - needs the example's own vl-convert

    svgs = charts.main([str(tmp_path / "svg")])
    assert sorted(path.name for path in svgs) == ["funnel.svg", "time_in_stage.svg"]
    funnel = svgs[0].read_text(encoding="utf-8")
    assert funnel.startswith("<svg")
    assert "Воронка сделок" in funnel  # the title, and the stages, drawn in Cyrillic
    assert "Встреча" in funnel
    pngs = charts.main([str(tmp_path / "png"), "--png"])
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in pngs)
