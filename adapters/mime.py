"""Render a Mail as a standard MIME message (text + HTML alternative); shared by SMTP, .eml and SES."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate

from adapters.ports import Mail

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(value: str, limit: int = 200) -> str:
    """Headers get one line: CR/LF and other control characters become spaces (no header injection)."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def to_mime(mail: Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = header_safe(mail.subject)
    msg["From"] = header_safe(mail.sender)
    msg["To"] = ", ".join(header_safe(a) for a in mail.to)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<{header_safe(mail.message_id)}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail.text, subtype="plain", charset="utf-8")
    msg.add_alternative(mail.html, subtype="html", charset="utf-8")
    return msg
