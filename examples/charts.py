"""
The funnel and time-in-stage charts of seed 000's log, drawn as SVG (or PNG) files.

funnelkit's analytics give Vega-Lite specs (`funnelkit.analytics.funnel_chart`,
`time_in_stage_chart`): plain data that any Vega-Lite renderer draws, in a browser or a
notebook. Here `vl-convert <https://github.com/vega/vl-convert>`_ draws them without one. It is
this example's own dependency, not funnelkit's: ``pip install vl-convert-python``.

Run it with ``python3 examples/charts.py charts/`` (add ``--png`` for PNG files).
"""

from __future__ import annotations

import sys
from pathlib import Path

import vl_convert as vlc

from funnelkit import analytics as fa


sys.path.insert(0, str(Path(__file__).parent.parent))  # run as a script from anywhere
from funnelkit.seeds.seed_000_log import AS_OF, CHAIN, FULL_LOG


def charts() -> dict[str, dict[str, object]]:
    """The Vega-Lite specs of the funnel and of the time in stage, by file stem."""
    folded = fa.histories(FULL_LOG, as_of=AS_OF)
    return {
        "funnel": fa.funnel_chart(fa.conversion(folded, CHAIN), title="Воронка сделок"),
        "time_in_stage": fa.time_in_stage_chart(
            fa.time_in_stage(folded, CHAIN), title="Время на этапах, часы"
        ),
    }


def draw(folder: Path, *, png: bool = False) -> list[Path]:
    """Draw every chart into `folder`; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, spec in charts().items():
        if png:
            path = folder / f"{stem}.png"
            path.write_bytes(vlc.vegalite_to_png(spec, scale=2))
        else:
            path = folder / f"{stem}.svg"
            path.write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    """Draw the charts into the folder named on the command line; print the specs without one."""
    args = sys.argv[1:] if argv is None else argv
    folders = [arg for arg in args if not arg.startswith("--")]
    if not folders:
        for stem, spec in charts().items():
            print(f"{stem}: a Vega-Lite spec of {len(str(spec))} characters")
        print("(give a folder to draw them there as SVG files, and --png for PNG files)")
        return []
    written = draw(Path(folders[0]), png="--png" in args)
    for path in written:
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    main()
