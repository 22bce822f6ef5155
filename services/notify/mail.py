"""The mails purchasing receives: plain text plus HTML, every value from a file escaped."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from html import escape

from adapters.ports import Mail
from adapters.settings import Settings
from events.models import BelowThreshold, FileRejected, ValidationCompleted

MAX_LISTED = 200


def _message_id(kind: str, ids: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:32]
    return f"{kind}.{digest}@inventory.local"


def _mail(settings: Settings, kind: str, ids: Sequence[str], subject: str, text: str, html: str) -> Mail:
    return Mail(
        message_id=_message_id(kind, ids),
        subject=subject,
        text=text,
        html=html,
        to=(settings.purchasing_email,),
        sender=settings.sender_email,
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>'
        + escape(title)
        + '</title></head><body style="font-family:sans-serif"><h2>'
        + escape(title)
        + "</h2>"
        + body
        + "</body></html>"
    )


def restock_digest(settings: Settings, ids: Sequence[str], alerts: Sequence[BelowThreshold]) -> Mail:
    alerts = sorted(alerts, key=lambda a: (a.warehouse, a.item_id))
    cause = alerts[0].cause
    source = alerts[0].file_key
    why = "after a threshold change" if cause == "threshold_update" else "after new stock transactions"
    subject = f"Restock needed: {len(alerts)} item(s) below threshold"
    lines = [
        f"{len(alerts)} item(s) fell below their restock threshold {why} ({source}).",
        "",
        "Warehouse | Item | Name | Level | Threshold",
    ]
    rows = []
    for a in alerts[:MAX_LISTED]:
        lines.append(f"{a.warehouse} | {a.item_id} | {a.item_name} | {a.level} | {a.threshold}")
        rows.append(
            "<tr>"
            + "".join(f"<td>{escape(str(v))}</td>" for v in (a.warehouse, a.item_id, a.item_name, a.level, a.threshold))
            + "</tr>"
        )
    if len(alerts) > MAX_LISTED:
        lines.append(f"... and {len(alerts) - MAX_LISTED} more: run `inventory report restock` for the full list.")
    html = _page(
        subject,
        f'<p>{escape(lines[0])}</p><table border="1" cellpadding="4" cellspacing="0">'
        "<tr><th>Warehouse</th><th>Item</th><th>Name</th><th>Level</th><th>Threshold</th></tr>"
        + "".join(rows)
        + "</table>"
        + (f"<p>{escape(lines[-1])}</p>" if len(alerts) > MAX_LISTED else ""),
    )
    return _mail(settings, "restock", ids, subject, "\n".join(lines) + "\n", html)


def rejected_mail(settings: Settings, ids: Sequence[str], parts: Sequence[FileRejected]) -> Mail:
    first = parts[0]
    rows = sorted((r for p in parts for r in p.rows), key=lambda r: r.line)
    # The file name, not the whole key, so the subject stays on one header line; the body has the key.
    name = first.key.rsplit("/", 1)[-1][:80]
    subject = f"File rejected: {name}" if first.reason != "bad_rows" else f"Bad rows in {name}: {first.bad_rows}"
    lines = [f"{first.key}: {first.message} (reason: {first.reason})"]
    more = ""
    if rows and (len(rows) > MAX_LISTED or first.bad_rows > len(rows)):
        more = (
            f"{first.bad_rows} bad row(s) in all; every one is kept with its reason "
            f"(inventory files bad-rows '{first.key}' lists them)."
        )
    if rows:
        lines += ["", "Line | Reason | Row"]
        lines += [f"{r.line} | {r.reason} | {r.raw}" for r in rows[:MAX_LISTED]]
        if more:
            lines.append("... " + more)
    table = ""
    if rows:
        table = (
            '<table border="1" cellpadding="4" cellspacing="0">'
            "<tr><th>Line</th><th>Reason</th><th>Row</th></tr>"
            + "".join(
                f"<tr><td>{r.line}</td><td>{escape(r.reason)}</td><td><code>{escape(r.raw)}</code></td></tr>"
                for r in rows[:MAX_LISTED]
            )
            + "</table>"
            + (f"<p>{escape(more)}</p>" if more else "")
        )
    html = _page(subject, f"<p>{escape(lines[0])}</p>{table}")
    return _mail(settings, "rejected", ids, subject, "\n".join(lines) + "\n", html)


def validation_mail(settings: Settings, event_id: str, summary: ValidationCompleted) -> Mail:
    subject = f"Nightly validation finished: {summary.findings} finding(s) in {summary.transactions} transaction(s)"
    lines = [
        f"Run {summary.run_id} checked {summary.files} file(s) and {summary.transactions} transaction(s)"
        f" from {summary.started_at:%Y-%m-%d %H:%M} to {summary.finished_at:%H:%M} UTC.",
        f"Findings: {summary.findings}"
        + (
            " (" + ", ".join(f"{k}: {v}" for k, v in sorted(summary.findings_by_kind.items())) + ")"
            if summary.findings_by_kind
            else ""
        ),
        f"Report: {summary.report_key} (stored encrypted: `inventory get {summary.report_key}` prints it)"
        if summary.report_key
        else "Report: not stored",
    ]
    if summary.top_findings:
        lines += ["", "Top findings:"] + [
            f"- [{f.kind}] {f.file_key}{f':{f.line}' if f.line else ''} {f.message}" for f in summary.top_findings
        ]
    html = _page(subject, "".join(f"<p>{escape(line)}</p>" for line in lines if line))
    return _mail(settings, "validation", [event_id], subject, "\n".join(lines) + "\n", html)
