"""The report as one self-contained HTML file: a page per section (tabs), interactive Plotly
plots (plotly.js inlined once, so the file opens offline), tables with a row filter."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pandas as pd

MAX_TABLE_ROWS = 200


@dataclass
class Table:
    """A table of a section: the first ``MAX_TABLE_ROWS`` rows are shown."""

    id: str
    title: str
    frame: pd.DataFrame
    note: str = ""

    @property
    def html(self) -> str:
        shown = self.frame.head(MAX_TABLE_ROWS)
        return shown.to_html(
            index=False,
            classes="data",
            table_id=self.id,
            border=0,
            na_rep="",
            float_format=lambda v: f"{v:,.4g}",
            escape=True,
        )

    @property
    def full_note(self) -> str:
        extra = (
            f" First {MAX_TABLE_ROWS} of {len(self.frame):,} rows."
            if len(self.frame) > MAX_TABLE_ROWS
            else ""
        )
        return (self.note + extra).strip()


@dataclass
class Section:
    """One page of the report."""

    id: str
    title: str
    summary: list[str] = field(default_factory=list)
    figures: list[Any] = field(default_factory=list)  # plotly figures
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def figure_html(figure: Any, div_id: str) -> str:
    """A Plotly figure as a div (plotly.js comes once, in the page head)."""
    return str(
        figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole report page."""
    import jinja2
    from plotly.offline import get_plotlyjs

    template_text = (
        resources.files("customs_risk.evaluation")
        .joinpath("templates/report.html.j2")
        .read_text(encoding="utf-8")
    )
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(template_text)
    views = [
        {
            "id": s.id,
            "title": s.title,
            "summary": s.summary,
            "figures": [figure_html(f, f"{s.id}-plot-{i}") for i, f in enumerate(s.figures)],
            "tables": [
                {"id": t.id, "title": t.title, "note": t.full_note, "html": t.html}
                for t in s.tables
            ],
            "notes": s.notes,
        }
        for s in sections
    ]
    return template.render(
        title=html.unescape(title), subtitle=subtitle, sections=views, plotly_js=get_plotlyjs()
    )
