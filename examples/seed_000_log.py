"""
Print what seed 000's log answers (`funnelkit.seeds.seed_000_log`).

The funnel, lost reasons, win rates, deal steps and response times: numbers that can be
worked out by hand.

Run it with ``python3 examples/seed_000_log.py``.
"""

from __future__ import annotations

from funnelkit import analytics as fa
from funnelkit.seeds.seed_000_log import AS_OF, CHAIN, FULL_LOG


def main() -> None:
    """Print the answers the log gives."""
    folded = fa.histories(FULL_LOG, as_of=AS_OF)
    print(f"{len(folded.leads)} leads, {len(folded.deals)} deals as of {AS_OF:%Y-%m-%d %H:%M}")
    print("funnel (reached = entered):")
    for row in fa.conversion(folded, CHAIN).rows():
        print(f"  {row['stage']:<10} {row['reached']:>3}  of first {row['cumulative_rate']:.0%}")
    print("lost and junk reasons by stage:", fa.lost_reasons(folded).rows())
    print(
        "win rate by channel:",
        [(r["channel"], r["win_rate"]) for r in fa.win_rate(folded, by="channel").rows()],
    )
    print("deal steps:", fa.deal_steps(folded).rows())
    print("response minutes:", fa.response_times(folded).band_counts())


if __name__ == "__main__":
    main()
