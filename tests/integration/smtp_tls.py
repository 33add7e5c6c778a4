"""
Client-side helpers for the TLS and AUTH tests (issue 3): TLS client
contexts, STARTTLS and implicit TLS on a RawSMTP, EHLO keywords, SASL
PLAIN/LOGIN encodings, the Received header of a delivered message, and the
envelopes of the messages waiting in the spool.
"""

import base64
import os
import re
import socket
import ssl

from facteur_instance import HOSTNAME
from smtp_dialogue import RawSMTP

ALICE = ("alice@example.test", "alice-pw")
BOB = ("bob@example.test", "bob-pw")


def client_context(minimum=None, maximum=None, ciphers=None):
    """A client context that does not check the (self-signed) certificate.
    minimum/maximum: ssl.TLSVersion; ciphers: an OpenSSL cipher string."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minimum is not None or maximum is not None:
        # TLS 1.0/1.1 need security level 0 in OpenSSL 3: let the client
        # offer them so that any refusal is the server's
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def wrap(raw, ctx=None, session=None):
    """TLS handshake on a RawSMTP's socket (after a 220 to STARTTLS, or
    at once for implicit TLS). Bytes the server sent in plaintext after
    its 220 and not read yet would be a bug: they are refused here."""
    assert not raw.buf and not raw.pushed, \
        "plaintext after the 220 to STARTTLS: %r" % raw.buf
    raw.sock = (ctx or client_context()).wrap_socket(
        raw.sock, server_hostname=HOSTNAME, session=session)
    raw.transcript.append("(TLS %s %s)" % (raw.sock.version(),
                                          raw.sock.cipher()[0]))
    return raw.sock


def connect(port, tls=False, ctx=None, source=None, timeout=10.0):
    """RawSMTP to 127.0.0.1:port, wrapped in TLS at once when tls (smtps);
    the greeting is NOT read."""
    raw = RawSMTP(port, source=source, timeout=timeout)
    if tls:
        wrap(raw, ctx)
    return raw


def ehlo(raw, name="client.example.test"):
    """Sends EHLO; returns {KEYWORD: "params"} of the 250 reply."""
    raw.cmd("EHLO " + name)
    code, lines = raw.code()
    assert code == 250, lines
    kw = {}
    for line in lines[1:]:
        word, _, rest = line[4:].partition(" ")
        kw[word.upper()] = rest
    return kw


def greet(raw, name="client.example.test"):
    code, lines = raw.code()
    assert code == 220, lines
    return ehlo(raw, name)


def starttls(raw, ctx=None, name="client.example.test"):
    """STARTTLS on an EHLO'd session, then EHLO again; returns the new
    EHLO keywords."""
    raw.cmd("STARTTLS")
    code, lines = raw.code()
    assert code == 220, lines
    wrap(raw, ctx)
    return ehlo(raw, name)


def b64(text):
    if isinstance(text, str):
        text = text.encode("utf-8")
    return base64.b64encode(text).decode("ascii")


def plain(user, password, authzid=""):
    return b64("%s\0%s\0%s" % (authzid, user, password))


def auth_plain(raw, user, password):
    """AUTH PLAIN with an initial response (RFC 4954 SASL-IR); returns
    (code, reply lines)."""
    raw.cmd("AUTH PLAIN " + plain(user, password))
    return raw.code()


def received_headers(data):
    """The Received: fields of a delivered message, unfolded, first
    (topmost) first."""
    head = data.split(b"\n\n", 1)[0].decode("utf-8", errors="replace")
    out = re.findall(r"^Received:.*(?:\n[ \t].*)*", head, re.M)
    return [re.sub(r"\s*\n[ \t]+", " ", h) for h in out]


def spool_envelopes(inst):
    """{queue id: envelope text} of the files in spool/queue/."""
    d = os.path.join(inst.spool_dir, "queue")
    out = {}
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        try:
            with open(os.path.join(d, n), "rb") as f:
                data = f.read()
        except OSError:
            continue
        out[n] = data.split(b"\n\n", 1)[0].decode("utf-8",
                                                  errors="replace")
    return out


def envelope_fields(text):
    """[(key, value)] of an envelope text, in order."""
    out = []
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        out.append((k, v))
    return out


def nothing_pending(raw, wait=1.0):
    """True when the server sends nothing within wait seconds."""
    if raw.buf or raw.pushed:
        return False
    raw.sock.settimeout(wait)
    try:
        data = raw.sock.recv(4096)
    except (socket.timeout, TimeoutError):
        return True
    except ssl.SSLWantReadError:
        return True
    if data:
        raw.buf += data
        raw.transcript.append("(unexpected: %r)" % data)
        return False
    return True     # EOF: nothing was answered either
