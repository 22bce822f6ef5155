"""Mail locally: to an SMTP server when INVENTORY_SMTP_URL is set, otherwise .eml files in an outbox."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from adapters.mime import to_mime
from adapters.ports import Mail
from adapters.settings import SettingsError
from kms.envelope import ObjectCipher


class OutboxMailer:
    """Writes standard .eml files (sealed as .eml.enc when the home is encrypted; `inventory mail show`
    prints them); the file name comes from the Message-ID, so a re-send is idempotent."""

    def __init__(self, outbox: Path, cipher: ObjectCipher | None = None) -> None:
        self.outbox = outbox
        self.cipher = cipher
        self.suffix = ".eml.enc" if cipher else ".eml"

    def send(self, mail: Mail) -> str:
        self.outbox.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(mail.message_id.encode()).hexdigest()[:24]
        path = self.outbox / (name + self.suffix)
        if not path.exists():
            data = bytes(to_mime(mail))
            if self.cipher is not None:
                data = self.cipher.encrypt(f"outbox/{name}", data, {})
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return str(path)

    def messages(self) -> list[tuple[str, bytes]]:
        """(mail id, the .eml bytes) of every mail in the outbox, oldest first."""
        if not self.outbox.exists():
            return []
        paths = sorted(self.outbox.glob("*" + self.suffix), key=lambda p: (p.stat().st_mtime, p.name))
        out = []
        for path in paths:
            name = path.name.removesuffix(self.suffix)
            data = path.read_bytes()
            if self.cipher is not None:
                data = b"".join(self.cipher.decrypt_stream(f"outbox/{name}", [data]))
            out.append((name, data))
        return out

    def rewrap_all(self) -> int:
        if self.cipher is None or not self.outbox.exists():
            return 0
        from adapters.local.object_store import rewrap_file

        paths = sorted(self.outbox.glob("*" + self.suffix))
        for path in paths:
            rewrap_file(self.cipher, path, f"outbox/{path.name.removesuffix(self.suffix)}")
        return len(paths)


class SmtpMailer:
    """smtp://user:pass@host:port (STARTTLS when offered, or ?starttls=require), smtps:// for implicit TLS.

    With a user name STARTTLS is required: a password must never go out in clear because someone in
    between removed the server's STARTTLS offer.
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        usage = "INVENTORY_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465"
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise SettingsError(usage)
        try:
            port = parsed.port
        except ValueError:
            raise SettingsError(f"{usage}: the port must be a number from 1 to 65535") from None
        options = parse_qs(parsed.query, keep_blank_values=True)
        allowed = {"starttls": ("require",), "verify": ("true", "false")}
        for name, values in options.items():
            if name not in allowed or len(values) != 1 or values[0] not in allowed[name]:
                raise SettingsError(
                    f"{usage}: unknown option {name}={'/'.join(values)} (known: starttls=require, verify=false)"
                )
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = port or (465 if parsed.scheme == "smtps" else 25)
        self.user = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.require_tls = options.get("starttls") == ["require"] or self.user is not None
        self.verify = options.get("verify") != ["false"]
        self.timeout = timeout

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def send(self, mail: Mail) -> str:
        message = to_mime(mail)
        client: smtplib.SMTP
        if self.scheme == "smtps":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if self.scheme == "smtp" and (client.has_extn("starttls") or self.require_tls):
                client.starttls(context=self._context())
                client.ehlo()
            if self.user:
                client.login(self.user, self.password or "")
            client.send_message(message)
        return f"{self.host}:{self.port}"
