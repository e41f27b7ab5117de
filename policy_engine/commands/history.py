"""`policy-engine history`: list recorded runs, show one, findings per rule over time.

Also the options check and gate share for scheduled runs (``add_run_options``/``run_tracked``):
``--waivers``, ``--waiver-warning-days`` and ``--history``, so both commands get the same semantics.
"""

from __future__ import annotations

from policy_engine.textsafe import printable
import argparse
import functools
import json
import sys
from typing import Any, Callable, TextIO

NAME = "history"
HELP = "show the run history kept by --history: list runs, show one run, findings per rule over time"


def add_run_options(p: argparse.ArgumentParser) -> None:
    """--waivers, --waiver-warning-days and --history, for check and gate."""
    p.add_argument("--waivers", metavar="PATH",
                   help="waiver file or directory of them: accepted findings, each with an expiry (docs/waivers.md)")
    p.add_argument("--waiver-warning-days", type=int, default=14, metavar="N",
                   help="warn about waivers that expire within N days of the as-of date (default: 14)")
    p.add_argument("--history", metavar="FILE.db",
                   help="record the run in this SQLite store and compare it with the previous run (docs/history.md)")


def run_tracked(
    args: Any, command: str, evaluate: Callable[[], Any], err: TextIO | None = None,
    deliver: Callable[[Any], None] | None = None,
) -> Any:
    """Evaluate, then apply waivers, then write the outputs (``deliver``) and record the run: the
    order check and gate share.

    Waivers are read before anything runs (a bad waiver file is exit 2 at once). With --history the
    run is ``running`` in the store while it evaluates, and ``failed`` if anything raises, writing
    the outputs included: it is complete only once its outputs are written.
    """
    import contextlib

    from policy_engine.errors import UsageError

    waivers = None
    if getattr(args, "waivers", None):
        from policy_engine.waivers import load_waivers

        if args.waiver_warning_days < 0:
            raise UsageError("--waiver-warning-days must be 0 or more")
        waivers = load_waivers(args.waivers)
    recorder: Any = contextlib.nullcontext()
    if getattr(args, "history", None):
        from policy_engine.history import open_run

        recorder = open_run(args.history, command)
    with recorder as run:
        result = evaluate()
        if waivers is not None:
            from policy_engine.waivers import apply_waivers

            result = apply_waivers(result, waivers, args.waiver_warning_days)
        if run is not None:
            result = run.complete(result, deliver).result
        elif deliver is not None:
            deliver(result)
    if waivers is not None:
        from policy_engine.waivers import waiver_warnings

        for line in waiver_warnings(result):
            print(line, file=err or sys.stderr)
    return result


def _store_option(p: argparse.ArgumentParser, default: Any = None) -> None:
    p.add_argument("--history", metavar="FILE.db", default=default, help="the SQLite store written by --history")


def add_arguments(p: argparse.ArgumentParser) -> None:
    _store_option(p)
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="recorded runs, newest first (every status)")
    ls.add_argument("--limit", type=int, default=20, metavar="N", help="at most N runs (default 20; 0: all)")
    ls.add_argument("--scope", metavar="KEY", help="only runs of this scope (a prefix is enough)")
    show = sub.add_parser("show", help="one run: its inputs, counts and findings")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id, or a unique prefix of one")
    show.add_argument("--limit", type=int, default=50, metavar="N", help="list at most N findings (default 50; 0: all)")
    trend = sub.add_parser("trend", help="findings per rule over the last complete runs of a scope")
    trend.add_argument("--scope", metavar="KEY", help="scope key or prefix (default: the latest complete run's)")
    trend.add_argument("--command", choices=("check", "gate"),
                       help="runs of this command (default: the latest complete run's)")
    trend.add_argument("--last", type=int, default=30, metavar="N", help="the last N complete runs (default 30)")
    for action in (ls, show, trend):  # --history may come after the action too
        _store_option(action, argparse.SUPPRESS)
        action.add_argument("--format", choices=("text", "json"), default=argparse.SUPPRESS)


def run(args: Any) -> int:
    from policy_engine.errors import UsageError
    from policy_engine.history import connect, query

    if not args.history:
        raise UsageError("history needs --history FILE.db: the store that check --history writes")
    con = connect(args.history, create=False)
    text: Callable[[Any], str]
    try:
        if args.action == "list":
            data: Any = query.runs(con, args.limit or None, args.scope)
            text = _list_table
        elif args.action == "show":
            found = query.find_run(con, args.run_id, args.history)
            data = {"run": found, "findings": query.findings(con, found["run_id"])}
            text = functools.partial(_show, limit=args.limit)
        else:
            latest = query.latest_complete(con, args.scope, args.command)
            scope, command = (latest["scope_key"], latest["command"]) if latest else (None, args.command)
            data = {"scope_key": scope, "command": command,
                    "trend": query.trend(con, scope, command, args.last) if scope else []}
            text = _trend_table
    finally:
        con.close()
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if args.format == "json" else text(data))
    return 0


def _count(run: dict[str, Any], key: str) -> str:
    counts = run.get("counts") or {}
    return "-" if key not in counts else str(counts[key])


def _list_table(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "no runs recorded\n"
    head = f"{'run id':<27} {'command':<7} {'status':<8} {'started':<20} {'as of':<25} {'findings':>8} {'new':>5} " \
           f"{'persist':>7} {'resolved':>8} {'waived':>6}  scope"
    lines = [head]
    for r in runs:
        lines.append(
            f"{r['run_id']:<27} {r['command']:<7} {r['status']:<8} {r['started_at']:<20} {r['as_of'] or '-'!s:<25} "
            f"{_count(r, 'findings'):>8} {_count(r, 'new'):>5} {_count(r, 'persisting'):>7} {_count(r, 'resolved'):>8} "
            f"{_count(r, 'waived'):>6}  {(r['scope_key'] or '-')[:8]}"
        )
    return "\n".join(printable(line) for line in lines) + "\n"


def _show(data: dict[str, Any], limit: int) -> str:
    r, findings = data["run"], data["findings"]
    lines = [
        f"run {r['run_id']}: {r['command']}, {r['status']}",
        f"  started {r['started_at']}, finished {r['finished_at'] or '-'}; as of {r['as_of'] or '-'}",
        f"  engine {r['engine_version']}; policy pack {r['policy_hash'] or '-'}; scope {r['scope_key'] or '-'}",
    ]
    lines += [f"  input {i['role']}: {i['path']} (sha256 {i['sha256']})" for i in r["inputs"] or []]
    if r["error"]:
        lines.append(f"  error: {r['error']}")
    counts = r["counts"] or {}
    if counts:
        lines.append("  " + ", ".join(f"{k.replace('_', ' ')} {counts[k]}" for k in
                                      ("findings", "breaches", "near_limit", "new", "persisting", "resolved", "waived")))
    by_rule: dict[str, int] = {}
    for f in findings:
        key = f"{f['policy_id']}/{f['rule_id']}" + (" (waived)" if f["waiver_id"] else "")
        by_rule[key] = by_rule.get(key, 0) + 1
    if by_rule:
        lines += ["", "findings by rule:"] + [f"  {k:<60} {n:>6}" for k, n in sorted(by_rule.items())]
        shown = findings if not limit else findings[:limit]
        lines += ["", f"findings ({len(shown)} of {len(findings)}, waived ones marked):"]
        for f in shown:
            how = f"{f['change'] or '-'}, {f['age_days']}d" + (f", {f['breach_type']}" if f["breach_type"] else "")
            waived = f" [waived by {f['waiver_id']}]" if f["waiver_id"] else ""
            lines.append(f"  {f['severity'].upper():<8} {f['account_id']} {f['rule_id']} ({how}){waived}: {f['message']}")
    elif r["status"] == "complete":
        lines.append("no findings")
    return "\n".join(printable(line) for line in lines) + "\n"


def _trend_table(data: dict[str, Any]) -> str:
    rows = data["trend"]
    if not rows:
        scope = data["scope_key"]
        return f"no findings in the complete runs of scope {scope}\n" if scope else "no complete runs recorded\n"
    rules = list(dict.fromkeys(f"{t['policy_id']}/{t['rule_id']}" for t in rows))
    runs = list(dict.fromkeys((t["run_id"], t["as_of"]) for t in rows))
    count = {(t["run_id"], f"{t['policy_id']}/{t['rule_id']}"): t["count"] for t in rows}
    head = f"findings per rule, last {len(runs)} complete {data['command']} runs of scope {data['scope_key']}"
    lines = [head + " (oldest first):"]
    lines += [f"  [{i + 1}] {rule}" for i, rule in enumerate(rules)]
    width = max(5, *(len(str(i + 1)) + 2 for i in range(len(rules))))
    lines.append(f"{'run id':<27} {'as of':<25}" + "".join(f"{f'[{i + 1}]':>{width + 1}}" for i in range(len(rules)))
                 + f"{'total':>7}")
    for run_id, as_of in runs:
        values = [count.get((run_id, rule), 0) for rule in rules]
        lines.append(f"{run_id:<27} {as_of or '-'!s:<25}" + "".join(f"{v:>{width + 1}}" for v in values)
                     + f"{sum(values):>7}")
    return "\n".join(printable(line) for line in lines) + "\n"
