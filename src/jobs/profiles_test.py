"""``customs-risk profiles test FILE --data DIR``: a draft profile on the last days of a dataset:
hits, workload per office and day, its historical hit rate among inspected items
(``evaluation.profile_trial``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProfilesTestOptions:
    """Inputs of ``customs-risk profiles test``."""

    profiles: Path  # a profile YAML file or a folder of them
    data: Path
    window_days: int = 90
    out: Path | None = None  # the table as parquet


def run(options: ProfilesTestOptions) -> int:
    """Print the figures; 2 on a bad profile or dataset."""
    from rich.console import Console

    from customs_risk.evaluation.profile_trial import try_profiles
    from customs_risk.models.dataset import load_training_data
    from customs_risk.selection.profiles import ProfileError, load_profiles

    console = Console()
    try:
        profiles = load_profiles(options.profiles)
        declarations, outcomes = load_training_data(options.data)
        table = try_profiles(profiles, declarations, outcomes, options.window_days)
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        console.print(f"[red]profiles test failed:[/red] {exc}")
        return 2
    console.print(f"profiles on the last {options.window_days} days of {options.data}")
    for _, r in table.iterrows():
        share = f" ({r['hit_share']:.1%})" if r["window_items"] else ""
        rate = (
            "no inspected item"
            if r["inspected"] == 0
            else (
                f"offences found {int(r['found']):,}: hit rate {r['hit_rate']:.1%} "
                f"[{r['ci_low']:.1%}, {r['ci_high']:.1%}]"
            )
        )
        console.print(f"\n[bold]{r['profile_id']}[/bold]  {r['title']} ({r['action']})")
        console.print(f"  hits       {int(r['hits']):,} of {int(r['window_items']):,} items{share}")
        console.print(
            f"  workload   {r['hits_per_office_day']:.2f} per office-day on average, at most "
            f"{int(r['max_hits_office_day'])} ({int(r['office_days']):,} office-days)"
        )
        console.print(f"  inspected  {int(r['inspected']):,}; {rate}")
        console.print(f"  recovered  {r['recovered_revenue']:,.0f}")
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(options.out, index=False)
        console.print(f"written to {options.out}")
    return 0
