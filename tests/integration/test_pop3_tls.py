"""
POP3 over TLS: STLS on the pop3 listener (RFC 2595 4), implicit TLS on
pop3s (RFC 8314), curl pop3s://, and the plaintext-login policy
(allow_plaintext_auth = never | loopback | always): where plaintext is not
allowed, USER/PASS and AUTH PLAIN are refused and not advertised before
STLS (RFC 2595 4: like LOGINDISABLED), and work once under TLS.
"""

import poplib
import socket
import ssl
import subprocess

import pytest

from facteur_instance import HOSTNAME
from pop3_helpers import RawPOP3, auth_plain, deliver, pop3_form, read_file


def context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE     # the test's self-signed certificate
    return ctx


def verifying_context(inst):
    """Verifies the chain against the test certificate; the name is
    checked by the caller (clients connect to 127.0.0.1)."""
    ctx = ssl.create_default_context(cafile=inst.tls_cert)
    ctx.check_hostname = False
    return ctx


def test_stls(make_instance):
    inst = make_instance(pop3=True, tls=True)
    path = deliver(inst, "alice", 1)[0]
    c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=15)
    assert "STLS" in c.capa(), c.capa()
    c.stls(context=verifying_context(inst))
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    cert = c.sock.getpeercert()
    assert ("DNS", HOSTNAME) in cert.get("subjectAltName", ())
    caps = c.capa()
    assert "STLS" not in caps, "STLS advertised again under TLS: %r" % caps
    c.user("alice@example.test")
    c.pass_("alice-pw")
    _, lines, _ = c.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == pop3_form(read_file(path))
    c.quit()


def test_stls_discards_pipelined_plaintext(make_instance):
    """Commands sent after STLS in the same packet must not be executed
    inside the TLS session (the CVE-2011-0411 class)."""
    inst = make_instance(pop3=True, tls=True)
    s = socket.create_connection(("127.0.0.1", inst.pop3_port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"STLS\r\nCAPA\r\n")
    assert f.readline().startswith(b"+OK")
    t = context().wrap_socket(s, server_hostname=HOSTNAME)
    t.sendall(b"NOOP\r\n")
    first = t.recv(4096)
    assert first.startswith(b"-ERR") or first.startswith(b"+OK"), first
    # NOOP is not valid before login: -ERR; a CAPA answer here (+OK and a
    # capability list) would be the injected plaintext command
    assert b"\r\nTOP" not in first and b"\r\nUIDL" not in first, first
    t.close()


def test_stls_twice_refused(make_instance):
    inst = make_instance(pop3=True, tls=True)
    c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=15)
    c.stls(context=context())
    with pytest.raises(poplib.error_proto):
        c._shortcmd("STLS")
    c.user("bob@example.test")
    c.pass_("bob-pw")
    c.quit()


def test_pop3s(make_instance):
    inst = make_instance(pop3=True, pop3s=True)
    path = deliver(inst, "bob", 1)[0]
    c = poplib.POP3_SSL("127.0.0.1", inst.pop3s_port,
                        context=verifying_context(inst), timeout=15)
    caps = c.capa()
    assert "STLS" not in caps, caps
    assert "USER" in caps, caps
    c.user("bob@example.test")
    c.pass_("bob-pw")
    assert c.stat() == (1, len(pop3_form(read_file(path))))
    _, lines, _ = c.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == pop3_form(read_file(path))
    c.quit()


def test_curl_pop3s(make_instance):
    inst = make_instance(pop3=True, pop3s=True)
    path = deliver(inst, "carol", 1)[0]
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "20",
                        "-u", "carol@example.test:carol-pw",
                        "pop3s://127.0.0.1:%d/1" % inst.pop3s_port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace") + \
        inst.log_tail(20)
    assert r.stdout == pop3_form(read_file(path))
    # and STLS through curl's --ssl-reqd on the plain port
    r = subprocess.run(["curl", "-sS", "-k", "--ssl-reqd", "--max-time",
                        "20", "-u", "carol@example.test:carol-pw",
                        "pop3://127.0.0.1:%d/1" % inst.pop3_port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == pop3_form(read_file(path))


@pytest.mark.parametrize("setting", ["allow_plaintext_auth",
                                     "pop3.allow_plaintext_auth"])
def test_plaintext_never(make_instance, setting):
    inst = make_instance(pop3=True, tls=True, config={setting: "never"})
    deliver(inst, "alice", 1)
    p = RawPOP3(inst.pop3_port)
    assert p.line().startswith("+OK")
    p.cmd("CAPA")
    assert p.line().startswith("+OK")
    caps = [x.decode() for x in p.multi()]
    assert "STLS" in caps, caps
    assert "USER" not in caps, "USER advertised where plaintext login " \
        "is not allowed: %r" % caps
    assert not any(c.startswith("SASL") and "PLAIN" in c for c in caps), \
        caps
    p.cmd("USER alice@example.test")
    r = p.line()
    if r.startswith("+OK"):
        p.cmd("PASS alice-pw")
        r = p.line()
    assert r.startswith("-ERR"), "plaintext login allowed: %r" % r
    p.cmd("AUTH PLAIN " + auth_plain("alice@example.test", "alice-pw"))
    assert p.line().startswith("-ERR")
    p.cmd("STAT")
    assert p.line().startswith("-ERR"), "not logged in, yet STAT works"
    p.close()

    c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=15)
    c.stls(context=context())
    assert "USER" in c.capa()
    c.user("alice@example.test")
    c.pass_("alice-pw")
    assert c.stat()[0] == 1
    c.quit()


def test_plaintext_always(make_instance):
    inst = make_instance(pop3=True, tls=True,
                         config={"allow_plaintext_auth": "always"})
    c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=15)
    caps = c.capa()
    assert "USER" in caps and "STLS" in caps, caps
    c.user("alice@example.test")
    c.pass_("alice-pw")
    c.quit()
