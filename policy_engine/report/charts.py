"""Charts as inline SVG geometry, computed here; the template only prints the coordinates.

Each chart is bounded (the TOP_N most constrained positions) and carries its data as a table,
the canonical text alternative. A position's limit is known where a finding reports it (near or
in breach); for the others the chart shows just the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from policy_engine.report import fmt
from policy_engine.report.findings import client_anchor
from policy_engine.report.tables import Cell, Column, Table, badge, num, ok_badge

TOP_N = 25
WIDTH, LABEL_W, PLOT_W, ROW_H, BAR_H, TOP, AXIS_H = 680, 200, 340, 22, 14, 6, 26


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: str  # top of the bar
    text_y: str  # baseline of the bar's texts
    width: str
    value_x: str
    value_text: str
    limit_x: str | None
    limit_y1: str
    limit_y2: str
    severity: str  # critical | breach | warning | ok


@dataclass(frozen=True, slots=True)
class Tick:
    x: str
    label: str


@dataclass(frozen=True, slots=True)
class Point:
    x: str
    y: str
    label_y: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    kind: str  # bars | line
    title: str
    desc: str
    width: int
    height: int
    plot_x: str
    plot_x2: str
    axis_y: str  # bottom of the plot: where grid lines end
    tick_y: str  # baseline of the axis labels
    ticks: tuple[Tick, ...]
    table: Table
    bars: tuple[Bar, ...] = ()
    points: tuple[Point, ...] = ()
    polyline: str = ""
    note: str = ""
    label_x: str = f"{LABEL_W - 8:.1f}"
    bar_h: int = BAR_H


@dataclass(frozen=True, slots=True)
class Spec:
    id: str
    title: str
    column: str  # the position metric
    metric: str  # the findings' metric carrying the limit
    at_most: bool  # True: value must stay <= limit; False: >= limit
    value_name: str
    limit_name: str
    show: Callable[[Any], str]


SPECS = (
    Spec("chart-allocation", "Allocation (margin / equity) per position against its limit", "allocation", "allocation", True,
         "Allocation", "Limit", fmt.percent),
    Spec("chart-leverage", "Leverage against the volatility-tier cap", "leverage", "leverage", True,
         "Leverage", "Tier cap", fmt.times),
    Spec("chart-liquidation", "Distance to liquidation against the volatility band (k × daily sigma)",
         "liq_distance", "liq_distance", False, "Distance to liquidation", "Required", fmt.percent),
)


def _c(x: float) -> str:
    return f"{x:.1f}"


def nice_ceiling(x: float) -> float:
    if not fmt.finite(x) or x <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= x * (1 - 1e-12)))


def axis(top: float) -> tuple[float, list[float]]:
    """A round scale covering ``top`` and 3 to 6 round tick values from 0."""
    step = nice_ceiling(top / 5)
    n = max(1, math.ceil(top / step - 1e-9))
    return n * step, [k * step for k in range(n + 1)]


def _tick_text(show: Callable[[Any], str], x: float) -> str:
    """A round axis value without trailing zeros: 5%, 2.5%, 10x."""
    text = re.sub(r"(\.\d*?)0+(?=[%x]?$)", r"\1", show(x))
    return re.sub(r"\.(?=[%x]?$)", "", text)


def _ranked(spec: Spec, positions: pl.DataFrame, findings: pl.DataFrame) -> list[dict[str, Any]]:
    """The TOP_N most constrained positions: worst finding, then closest to (or past) the limit."""
    if spec.column not in positions.columns:
        return []
    lim = (
        findings.filter((pl.col("metric") == spec.metric) & pl.col("position_id").is_not_null())
        .group_by("account_id", "position_id")
        .agg((pl.col("limit").min() if spec.at_most else pl.col("limit").max()).alias("__limit"),
             pl.col("severity_rank").max().cast(pl.Int64).alias("__rank"))
    )
    value = pl.col(spec.column)
    cols = [c for c in ("account_id", "position_id", "symbol", "client_name", spec.column) if c in positions.columns]
    p = positions.select(cols).filter(value.is_not_null() & value.is_finite())
    p = p.join(lim, on=["account_id", "position_id"], how="left").with_columns(pl.col("__rank").fill_null(0))
    use = value / pl.col("__limit") if spec.at_most else pl.when(value > 0).then(pl.col("__limit") / value).otherwise(1e9)
    p = p.with_columns(use.alias("__use"))
    p = p.sort(["__rank", "__use", spec.column, "account_id", "position_id"],
               descending=[True, True, spec.at_most, False, False], nulls_last=True)
    return p.head(TOP_N).to_dicts()


def bar_chart(spec: Spec, positions: pl.DataFrame, findings: pl.DataFrame) -> Chart | None:
    rows = _ranked(spec, positions, findings)
    if not rows:
        return None
    scale, tick_values = axis(max(max(r[spec.column], r["__limit"] or 0.0) for r in rows))
    x0 = float(LABEL_W)
    bars, cells = [], []
    for i, r in enumerate(rows):
        value, limit = r[spec.column], r["__limit"]
        sev = fmt.SEVERITIES[r["__rank"] - 1] if r["__rank"] else "ok"
        y = TOP + i * ROW_H
        width = max(0.0, min(value, scale)) / scale * PLOT_W
        name = str(r.get("client_name") or r["account_id"])
        text = spec.show(value) + (f" / {spec.show(limit)}" if fmt.finite(limit) else "")
        if sev != "ok":
            text = f"{fmt.SEVERITY_GLYPH[sev]} {text}"
        limit_px = x0 + min(limit, scale) / scale * PLOT_W if fmt.finite(limit) else None
        limit_x = None if limit_px is None else _c(limit_px)
        bars.append(Bar(
            label=f"{fmt.shorten(str(r['symbol']), 12)} · {fmt.shorten(name, 18)}", y=_c(y), text_y=_c(y + BAR_H - 3),
            width=_c(width), value_x=_c(max(x0 + width, limit_px or 0.0) + 6), value_text=text, limit_x=limit_x,
            limit_y1=_c(y - 3), limit_y2=_c(y + BAR_H + 3), severity=sev,
        ))
        cells.append((
            Cell(f"{r['symbol']} · {r['position_id']}", sub=name, href="#" + client_anchor(r["account_id"])),
            num(value, spec.show(value)), num(limit, spec.show(limit)),
            badge(sev) if sev != "ok" else ok_badge(),
        ))
    height = TOP + len(rows) * ROW_H + AXIS_H
    axis_y = TOP + len(rows) * ROW_H
    ticks = tuple(Tick(_c(x0 + v / scale * PLOT_W), _tick_text(spec.show, v)) for v in tick_values)
    direction = "at most" if spec.at_most else "at least"
    desc = (f"Horizontal bars of the {spec.value_name.lower()} of the {len(rows)} most constrained positions; "
            f"a dark tick marks the limit (the value must be {direction} the limit) where a finding reports it. "
            "The same data is in the table next to the chart.")
    table = Table(
        id=f"{spec.id}-data", caption=f"Data: {spec.title.lower()}",
        columns=(Column("Position · client"), Column(spec.value_name, True), Column(spec.limit_name, True),
                 Column("Worst finding")),
        rows=tuple(cells), css="chart-data",
    )
    return Chart(
        id=spec.id, kind="bars", title=spec.title, desc=desc, width=WIDTH, height=height, plot_x=_c(x0),
        plot_x2=_c(x0 + PLOT_W), axis_y=_c(axis_y), tick_y=_c(axis_y + 16), ticks=ticks, table=table, bars=tuple(bars),
        note=f"The {len(rows)} most constrained of {positions.height:,} positions; limits from the findings.",
    )


def charts(positions: pl.DataFrame, findings: pl.DataFrame) -> tuple[Chart, ...]:
    return tuple(c for c in (bar_chart(s, positions, findings) for s in SPECS) if c is not None)


def trend_chart(records: Sequence[Mapping[str, Any]], max_runs: int = 30) -> Chart | None:
    """Findings per run over time, from extra['trend'] rows {run_id, generated_at, rule_id, count}."""
    runs: dict[tuple[str, str], dict[str, int]] = {}
    for r in records:
        key = (str(r.get("generated_at") or ""), str(r.get("run_id") or ""))
        per_rule = runs.setdefault(key, {})
        rule = str(r.get("rule_id") or "all")
        per_rule[rule] = per_rule.get(rule, 0) + int(r.get("count") or 0)
    if not runs:
        return None
    keys = sorted(runs)[-max_runs:]
    totals = [sum(runs[k].values()) for k in keys]
    scale = nice_ceiling(max(totals) or 1)
    x0, x1, y0, plot_h = 60.0, WIDTH - 60.0, TOP + 18.0, 150.0
    step = (x1 - x0) / max(1, len(keys) - 1)
    points = []
    for i, t in enumerate(totals):
        x = x0 + i * step if len(keys) > 1 else (x0 + x1) / 2
        y = y0 + plot_h * (1 - t / scale)
        points.append(Point(_c(x), _c(y), _c(y - 8), f"{t:,}"))
    rules = sorted({rule for k in keys for rule in runs[k]})
    rule_columns = rules if len(rules) <= 6 else []
    table = Table(
        id="trend-data", caption="Data: findings per run",
        columns=(Column("Run"), Column("Generated"), Column("Findings", True), *(Column(r, True) for r in rule_columns)),
        rows=tuple((Cell(k[1] or fmt.MISSING, kind="code"), Cell(fmt.timestamp(k[0])), num(t, f"{t:,}"),
                    *(num(runs[k].get(r, 0), f"{runs[k].get(r, 0):,}") for r in rule_columns))
                   for k, t in zip(keys, totals)),
        css="chart-data",
    )
    axis_y = y0 + plot_h
    ticks = tuple(Tick(p.x, fmt.timestamp(k[0])[:10] if k[0] else fmt.shorten(k[1], 10)) for p, k in zip(points, keys))
    return Chart(
        id="chart-trend", kind="line", title="Findings per run", width=WIDTH, height=int(axis_y + AXIS_H + 4),
        desc=f"A line through the number of findings in each of the last {len(keys)} runs, oldest first, "
             f"on a scale from 0 to {scale:,.0f}; the same data is in the table next to the chart.",
        plot_x=_c(x0), plot_x2=_c(x1), axis_y=_c(axis_y), tick_y=_c(axis_y + 18), ticks=ticks, table=table,
        points=tuple(points), polyline=" ".join(f"{p.x},{p.y}" for p in points),
        note=f"The last {fmt.plural(len(keys), 'run')}; scale 0 to {scale:,.0f} findings.",
    )
