"""The SMTP mailer against a real SMTP server (aiosmtpd) with STARTTLS and AUTH required."""

from __future__ import annotations

import datetime as dt
import email
import smtplib
import socket
import ssl
import time
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.local.mailer import SmtpMailer
from adapters.ports import Mail
from adapters.settings import Settings, SettingsError
from local.delivery import left_waiting, run_until_idle
from local.wiring import bootstrap
from services.files.logic import upload


def self_signed(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), email.message_from_bytes(content)))
        return "250 OK"


def authenticator(server: object, session: Session, envelope: Envelope, mechanism: str, data: object) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"buyer" and data.password == b"s3cret p@ss"
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server(tmp_path: Path):
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's Controller checks readiness on a fixed port, so pick one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=self_signed(tmp_path),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_restock_digest_reaches_a_real_smtp_server_over_starttls_with_auth(smtp_server, tmp_path: Path) -> None:
    inbox, port = smtp_server
    url = f"smtp://buyer:s3cret%20p%40ss@127.0.0.1:{port}?starttls=require&verify=false"
    rt = bootstrap(Settings(home=tmp_path / "home", smtp_url=url, purchasing_email="buyers@example.com"))
    assert isinstance(rt.ports.mailer, SmtpMailer)
    upload(
        rt.ports,
        "inventory_files/2021/02/15/20210215120000_inventory.csv",
        b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
        b"2021-02-15T12:00:00Z\tBerlin 1\ta1\tKaffeebohnen <b>gro\xc3\x9f</b>\t3\n",
    )
    stats = run_until_idle(rt.ports, rt.bus)
    assert stats.dead == 0
    ((mail_from, rcpt, message),) = inbox.messages
    assert mail_from == "inventory@example.com" and rcpt == ["buyers@example.com"]
    assert message["Subject"] == "Restock needed: 1 item(s) below threshold"
    assert message["Message-ID"].startswith("<restock.") and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    body = bytes(html.get_payload(decode=True)).decode()
    assert "Kaffeebohnen &lt;b&gt;groß&lt;/b&gt;" in body


def test_smtp_down_dead_letters_then_redrive_delivers_once(smtp_server, tmp_path: Path) -> None:
    inbox, port = smtp_server
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    home = tmp_path / "home"
    down = bootstrap(
        Settings(home=home, smtp_url=f"smtp://127.0.0.1:{closed_port}", retry_base_seconds=0.0, max_attempts=2)
    )
    upload(
        down.ports,
        "inventory_files/2021/02/15/20210215120000_inventory.csv",
        b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-02-15T12:00:00Z\tW\ta1\tN\t3\n",
    )
    assert run_until_idle(down.ports, down.bus).dead == 1
    down.close()
    # WHEN the server is back and the dead delivery is redriven
    url = f"smtp://buyer:s3cret%20p%40ss@127.0.0.1:{port}?verify=false"
    up = bootstrap(Settings(home=home, smtp_url=url))
    assert up.bus.redrive() == 1
    run_until_idle(up.ports, up.bus)
    up.bus.redrive()
    run_until_idle(up.ports, up.bus)
    # THEN exactly one mail arrived
    assert len(inbox.messages) == 1


def test_by_default_a_delivery_is_retried_for_minutes_before_it_is_dead_lettered() -> None:
    # A mail server's restart or greylisting (retry after 1-5 minutes) must not dead-letter the alerts:
    # with the default settings the waits between the tries add up to more than five minutes.
    settings = Settings()
    waits = [min(settings.retry_base_seconds * 2 ** (n - 1), 300.0) for n in range(1, settings.max_attempts)]
    assert sum(waits) >= 300


def test_smtp_down_a_one_shot_run_leaves_the_mail_waiting_and_a_later_run_sends_it_once(
    smtp_server, tmp_path: Path
) -> None:
    # GIVEN the mail server is down, and a file whose pair starts below its threshold (an alert)
    inbox, port = smtp_server
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    home = tmp_path / "home"
    down = bootstrap(Settings(home=home, smtp_url=f"smtp://127.0.0.1:{closed_port}", retry_base_seconds=0.5))
    upload(
        down.ports,
        "inventory_files/2021/02/15/20210215120000_inventory.csv",
        b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n2021-02-15T12:00:00Z\tW\ta1\tN\t3\n",
    )
    # WHEN a one-shot run (as `inventory process`) will not wait that long for the retry
    stats = run_until_idle(down.ports, down.bus, patience=0.1)
    down.close()
    # THEN nothing is dead-lettered; the mail waits, and the run says so in one line
    assert (stats.dead, stats.waiting) == (0, 1)
    message = left_waiting(stats)
    assert message is not None and message.startswith("1 delivery waits for a retry")
    assert "refused" in message.lower()
    # WHEN the server is back and a later run comes after the wait
    time.sleep(0.6)
    up = bootstrap(Settings(home=home, smtp_url=f"smtp://buyer:s3cret%20p%40ss@127.0.0.1:{port}?verify=false"))
    again = run_until_idle(up.ports, up.bus, patience=0.1)
    up.close()
    # THEN the mail went out exactly once, with nothing left waiting or dead
    assert (again.dead, again.waiting) == (0, 0)
    assert len(inbox.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # that is the server under test
def test_a_password_is_never_sent_to_a_server_that_offers_no_starttls(tmp_path: Path) -> None:
    # GIVEN a server without STARTTLS that would accept any login in clear
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logins: list[object] = []

    def accept_all(server: object, session: Session, envelope: Envelope, mechanism: str, data: object) -> AuthResult:
        logins.append(data)
        return AuthResult(success=True)

    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=accept_all, auth_required=True, auth_require_tls=False
    )
    controller.start()
    try:
        mailer = SmtpMailer(f"smtp://buyer:s3cret@127.0.0.1:{port}")
        # WHEN a mail is sent with credentials THEN it fails before the login, and nothing was sent
        with pytest.raises(smtplib.SMTPNotSupportedError):
            mailer.send(Mail("m1@example.com", "s", "t", "<p>t</p>", ("b@example.com",), "a@example.com"))
        assert logins == [] and inbox.messages == []
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("smtp://127.0.0.1:notaport", "the port must be a number"),
        ("smtp://127.0.0.1:99999", "the port must be a number"),
        ("smtp://127.0.0.1:25?starttls=maybe", "unknown option starttls=maybe"),
        ("smtp://127.0.0.1:25?tls=on", "unknown option tls=on"),
    ],
)
def test_a_bad_smtp_url_is_one_clear_settings_error(url: str, words: str) -> None:
    with pytest.raises(SettingsError) as info:
        SmtpMailer(url)
    assert words in str(info.value) and "\n" not in str(info.value)
