"""
TLS (issue 3): STARTTLS (RFC 3207) on the smtp and submission listeners,
implicit TLS on smtps (RFC 8314), TLS 1.2 minimum and a modern cipher
list, session resumption, the session reset after STARTTLS, commands
pipelined behind STARTTLS discarded (the CVE-2011-0411 class), the TLS
version and cipher in the Received header, and a new certificate served
after SIGHUP.
"""

import hashlib
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from facteur_instance import Instance, make_certificate
from smtp_tls import (client_context, connect, ehlo, greet, starttls, wrap,
                      received_headers, nothing_pending, auth_plain,
                      ALICE)


@pytest.fixture(scope="module")
def tls():
    inst = Instance(tls=True, submission=True, smtps=True)
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


def ports(inst):
    return {"smtp": inst.port, "submission": inst.submission_port}


# --- STARTTLS and implicit TLS --------------------------------------------

@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_starttls_offered_and_works(tls, listener):
    raw = connect(ports(tls)[listener])
    kw = greet(raw)
    assert "STARTTLS" in kw, kw
    kw2 = starttls(raw)
    assert "STARTTLS" not in kw2, "STARTTLS offered again inside TLS: %s" \
        % kw2
    assert raw.sock.version() in ("TLSv1.2", "TLSv1.3")
    raw.cmd("NOOP")
    assert raw.code()[0] == 250
    raw.cmd("QUIT")
    assert raw.code()[0] == 221
    raw.close()


def test_starttls_twice_refused(tls):
    raw = connect(tls.port)
    greet(raw)
    starttls(raw)
    raw.cmd("STARTTLS")
    code, lines = raw.code()
    # 503 bad sequence, or Postfix's "554 5.5.1 Error: TLS already active"
    assert code in (503, 554), lines
    raw.cmd("NOOP")
    assert raw.code()[0] == 250
    raw.close()


def test_starttls_with_argument_refused(tls):
    raw = connect(tls.port)
    greet(raw)
    raw.cmd("STARTTLS now")
    code, lines = raw.code()
    assert code == 501, lines
    raw.cmd("NOOP")     # still in plaintext, still usable
    assert raw.code()[0] == 250
    raw.close()


def test_smtps_implicit_tls(tls):
    raw = connect(tls.smtps_port, tls=True)
    kw = greet(raw)
    assert "STARTTLS" not in kw, kw
    assert raw.sock.version() in ("TLSv1.2", "TLSv1.3")
    raw.close()


def test_smtplib_smtp_ssl(tls):
    with smtplib.SMTP_SSL("127.0.0.1", tls.smtps_port, timeout=10,
                          context=client_context()) as c:
        code, _ = c.ehlo("client.example.test")
        assert code == 250
        assert c.has_extn("auth"), c.esmtp_features


def test_openssl_s_client_starttls(tls):
    r = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls.port,
         "-starttls", "smtp", "-name", "mail.example.test", "-brief",
         "-ign_eof"],
        input=b"QUIT\r\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=30)
    out = r.stdout.decode(errors="replace")
    assert "Protocol version: TLSv1.3" in out, out
    assert "CN = mail.example.test" in out or \
        "CN=mail.example.test" in out, out


def test_openssl_s_client_smtps(tls):
    r = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls.smtps_port,
         "-brief", "-ign_eof"],
        input=b"QUIT\r\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=30)
    out = r.stdout.decode(errors="replace")
    assert "Protocol version: TLSv1.3" in out, out
    assert "220 " in out, out


# --- versions, ciphers, resumption ----------------------------------------

@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_version_accepted(tls, version):
    v = getattr(ssl.TLSVersion, version)
    raw = connect(tls.smtps_port, tls=True,
                  ctx=client_context(minimum=v, maximum=v))
    assert raw.sock.version() == version.replace("_", "."), \
        raw.sock.version()
    greet(raw)
    raw.close()


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_tls_version_refused(tls, version):
    v = getattr(ssl.TLSVersion, version)
    with pytest.raises((ssl.SSLError, ConnectionError)) as e:
        raw = connect(tls.smtps_port, tls=True,
                      ctx=client_context(minimum=v, maximum=v))
        raw.close()
    assert "version" in str(e.value).lower() or \
        "protocol" in str(e.value).lower() or \
        isinstance(e.value, ConnectionError), e.value


def test_old_tls_version_refused_after_starttls(tls):
    raw = connect(tls.port)
    greet(raw)
    raw.cmd("STARTTLS")
    assert raw.code()[0] == 220
    with pytest.raises((ssl.SSLError, ConnectionError)):
        wrap(raw, client_context(minimum=ssl.TLSVersion.TLSv1_1,
                                 maximum=ssl.TLSVersion.TLSv1_1))
    raw.close()


@pytest.mark.parametrize("cipher", ["AES128-SHA",
                                    "AES256-SHA256", "ECDHE-RSA-AES128-SHA"])
def test_weak_tls12_cipher_refused(tls, cipher):
    """No non-AEAD and no non-forward-secret suites under TLS 1.2."""
    ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2,
                         minimum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers(cipher + ":@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        raw = connect(tls.smtps_port, tls=True, ctx=ctx)
        raw.close()


def test_modern_tls12_cipher_accepted(tls):
    ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2,
                         minimum=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305")
    raw = connect(tls.smtps_port, tls=True, ctx=ctx)
    assert raw.sock.cipher()[0] in ("ECDHE-RSA-AES256-GCM-SHA384",
                                    "ECDHE-RSA-CHACHA20-POLY1305")
    greet(raw)
    raw.close()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_session_resumption(tls, version):
    """Session tickets: a second connection resumes the first one's
    session (abbreviated handshake)."""
    v = getattr(ssl.TLSVersion, version)
    ctx = client_context(minimum=v, maximum=v)
    raw = connect(tls.smtps_port, tls=True, ctx=ctx)
    greet(raw)          # TLS 1.3 tickets arrive after the handshake
    raw.cmd("QUIT")
    raw.code()
    session = raw.sock.session
    raw.close()
    assert session is not None
    assert session.has_ticket, "no session ticket issued (%s)" % version
    raw = RawTLS(tls.smtps_port, ctx, session)
    assert raw.sock.session_reused, "session not resumed (%s)" % version
    greet(raw)
    raw.close()


def RawTLS(port, ctx, session):
    raw = connect(port)
    wrap(raw, ctx, session=session)
    return raw


def test_no_stall_after_tls13_handshake(tls):
    """The first reply after a TLS 1.3 handshake comes at once. The server
    sends its session tickets after the handshake; if its socket keeps
    Nagle's algorithm on, the reply waits for the client's delayed ACK
    of the tickets (40 ms on Linux): every STARTTLS message then costs
    40 ms more, which a one-session client sees as 20 messages/s instead
    of hundreds. Median of 5 sessions, so a busy machine does not fail
    it."""
    ctx = client_context(minimum=ssl.TLSVersion.TLSv1_3)
    took = []
    for _ in range(5):
        raw = connect(tls.port)
        greet(raw)
        raw.cmd("STARTTLS")
        assert raw.code()[0] == 220
        wrap(raw, ctx)
        t0 = time.monotonic()
        ehlo(raw)
        took.append(time.monotonic() - t0)
        raw.close()
    took.sort()
    assert took[2] < 0.025, "EHLO after the handshake took %s ms " \
        "(TCP_NODELAY missing?)" % ["%.0f" % (t * 1000) for t in took]


# --- what STARTTLS resets and discards -------------------------------------

def test_state_reset_after_starttls(tls):
    """RFC 3207 4.2: the server forgets everything it knew; MAIL right
    after the handshake, without a new EHLO, is out of sequence."""
    raw = connect(tls.port)
    greet(raw)
    raw.cmd("STARTTLS")
    assert raw.code()[0] == 220
    wrap(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    code, lines = raw.code()
    assert code == 503, lines
    ehlo(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    raw.close()


def test_transaction_forgotten_after_starttls(tls):
    """A MAIL given before STARTTLS does not survive it."""
    raw = connect(tls.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    starttls(raw)
    raw.cmd("RCPT TO:<bob@example.test>")
    code, lines = raw.code()
    assert code == 503, lines
    raw.close()


def test_starttls_during_transaction(tls):
    raw = connect(tls.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("STARTTLS")
    code, lines = raw.code()
    # either refused inside a transaction, or accepted with a full reset
    if code == 220:
        wrap(raw)
        ehlo(raw)
        raw.cmd("RCPT TO:<bob@example.test>")
        assert raw.code()[0] == 503
    else:
        assert code == 503, lines
    raw.close()


INJECTED = {
    "rset": b"RSET\r\n",
    "help": b"HELP\r\n",
    "mail": b"MAIL FROM:<mallory@example.test>\r\n",
    "ehlo": b"EHLO mallory.example.test\r\n",
    "three": b"EHLO mallory\r\nMAIL FROM:<mallory@example.test>\r\n"
             b"RCPT TO:<bob@example.test>\r\n",
}


@pytest.mark.parametrize("listener", ["smtp", "submission"])
@pytest.mark.parametrize("what", list(INJECTED))
def test_starttls_command_injection(tls, listener, what):
    """Plaintext sent in the same packet after STARTTLS must be thrown
    away: never executed, never answered inside TLS (CVE-2011-0411)."""
    raw = connect(ports(tls)[listener])
    greet(raw)
    raw.send(b"STARTTLS\r\n" + INJECTED[what])
    code, lines = raw.code()
    assert code == 220, lines
    # the server may also answer the injected lines in plaintext after
    # 220 (refused) -- it must not: they are discarded
    wrap(raw)
    assert nothing_pending(raw), \
        "answer to an injected command inside TLS:\n%s" % \
        "\n".join(raw.transcript)
    # the session inside TLS is fresh: no transaction from mallory
    raw.cmd("RCPT TO:<bob@example.test>")
    code, lines = raw.code()
    assert code == 503, "\n".join(raw.transcript)
    kw = ehlo(raw)
    assert kw
    if listener == "submission":
        assert auth_plain(raw, *ALICE)[0] == 235
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250, "\n".join(raw.transcript)
    raw.cmd("QUIT")
    assert raw.code()[0] == 221
    raw.close()


# --- what a delivered message shows ----------------------------------------

def test_received_header_shows_tls(tls):
    n = len(tls.message_files("bob"))
    ctx = client_context()
    with smtplib.SMTP("127.0.0.1", tls.port, timeout=10) as c:
        c.ehlo("client.example.test")
        c.starttls(context=ctx)
        version = c.sock.version()
        cipher = c.sock.cipher()[0]
        c.ehlo("client.example.test")
        c.sendmail(ALICE[0], ["bob@example.test"],
                   b"Subject: over TLS\r\n\r\nsecret\r\n")
    data = tls.wait_for_delivery("bob", n + 1)[-1]
    for data in tls.messages("bob"):
        if b"Subject: over TLS" in data:
            break
    rec = received_headers(data)[0]
    assert version in rec, rec
    assert cipher in rec, rec
    assert "ESMTPS" in rec, rec


def test_received_header_smtps(tls):
    """Implicit TLS shows the same (RFC 8314 section 3)."""
    n = len(tls.message_files("carol"))
    with smtplib.SMTP_SSL("127.0.0.1", tls.smtps_port, timeout=10,
                          context=client_context()) as c:
        c.ehlo("client.example.test")
        version = c.sock.version()
        cipher = c.sock.cipher()[0]
        c.login(*ALICE)
        c.sendmail(ALICE[0], ["carol@example.test"],
                   b"Subject: over smtps\r\n\r\nsecret\r\n")
    tls.wait_for_delivery("carol", n + 1)
    data = [d for d in tls.messages("carol") if b"over smtps" in d][0]
    rec = received_headers(data)[0]
    assert version in rec and cipher in rec, rec
    assert "ESMTPSA" in rec, rec


def test_plaintext_received_has_no_tls(tls):
    n = len(tls.message_files("alice"))
    with smtplib.SMTP("127.0.0.1", tls.port, timeout=10) as c:
        c.ehlo("client.example.test")
        c.sendmail("bob@example.test", ["alice@example.test"],
                   b"Subject: in clear\r\n\r\nx\r\n")
    tls.wait_for_delivery("alice", n + 1)
    data = [d for d in tls.messages("alice") if b"in clear" in d][0]
    rec = received_headers(data)[0]
    assert "TLS" not in rec and "ESMTPS" not in rec, rec


# --- reload -----------------------------------------------------------------

def peer_cert_sha256(port):
    raw = connect(port, tls=True)
    der = raw.sock.getpeercert(binary_form=True)
    raw.close()
    return hashlib.sha256(der).hexdigest()


def starttls_cert_sha256(port):
    raw = connect(port)
    greet(raw)
    raw.cmd("STARTTLS")
    assert raw.code()[0] == 220
    wrap(raw)
    der = raw.sock.getpeercert(binary_form=True)
    raw.close()
    return hashlib.sha256(der).hexdigest()


def test_certificate_reloaded_on_sighup(make_instance, tmp_path):
    inst = make_instance(tls=True, smtps=True)
    old = peer_cert_sha256(inst.smtps_port)
    assert starttls_cert_sha256(inst.port) == old
    # an open session keeps working across the reload
    keep = connect(inst.port)
    greet(keep)
    d = tmp_path / "new"
    d.mkdir()
    cert, key = make_certificate(str(d), name="second")
    shutil.copyfile(cert, inst.tls_cert)
    shutil.copyfile(key, inst.tls_key)
    inst.reload(inst.config_text())
    deadline = time.time() + 10
    new = old
    while time.time() < deadline and new == old:
        time.sleep(0.2)
        new = peer_cert_sha256(inst.smtps_port)
    assert new != old, "still the old certificate 10 s after SIGHUP\n" + \
        inst.log_tail()
    assert starttls_cert_sha256(inst.port) == new
    keep.cmd("NOOP")
    assert keep.code()[0] == 250
    keep.close()


def test_no_starttls_without_certificate(instance):
    raw = connect(instance.port)
    kw = greet(raw)
    assert "STARTTLS" not in kw, kw
    raw.cmd("STARTTLS")
    code, lines = raw.code()
    assert code in (454, 502), lines
    raw.close()
