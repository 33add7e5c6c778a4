"""
Limits (issue 3), each set low in the instance's configuration and each
checked as a client sees it: concurrent sessions in all (max_sessions) and
per client address (max_sessions_per_ip): 421 4.7.0; message size
(max_message_size): 552; recipients (max_recipients): 452 4.5.3; commands
(max_commands) and errors (max_errors) per session; line length
(max_line_length); idle (command_timeout) and total (session_timeout)
session time; early talkers before the greeting (greet_pause); slow-drip
senders (min_data_rate).
"""

import socket
import time

import pytest

from smtp_dialogue import RawSMTP, SMTPClosed
from smtp_tls import connect, ehlo, greet


def closed(raw, timeout=5.0):
    return raw.at_eof(timeout)


def refused_421(raw):
    code, lines = raw.code()
    assert code == 421 and lines[-1].startswith("421 4.7.0"), lines
    assert closed(raw), "connection left open after 421"


# --- sessions -------------------------------------------------------------

def test_max_sessions_total(make_instance):
    inst = make_instance(config={"max_sessions": "3",
                                 "max_sessions_per_ip": "10"})
    held = []
    for i in range(3):
        raw = connect(inst.port, source=("127.0.0.%d" % (31 + i), 0))
        assert raw.code()[0] == 220
        held.append(raw)
    extra = connect(inst.port, source=("127.0.0.40", 0))
    refused_421(extra)
    extra.close()
    # a slot frees when a session ends
    held.pop().close()
    deadline = time.time() + 5
    while True:
        raw = connect(inst.port, source=("127.0.0.41", 0))
        code, lines = raw.code()
        raw.close()
        if code == 220 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert code == 220, lines
    for r in held:
        r.close()


def test_max_sessions_per_ip(make_instance):
    inst = make_instance(config={"max_sessions": "50",
                                 "max_sessions_per_ip": "2"})
    held = []
    for _ in range(2):
        raw = connect(inst.port, source=("127.0.0.51", 0))
        assert raw.code()[0] == 220
        held.append(raw)
    third = connect(inst.port, source=("127.0.0.51", 0))
    refused_421(third)
    third.close()
    other = connect(inst.port, source=("127.0.0.52", 0))
    assert other.code()[0] == 220, "another address is not limited"
    other.close()
    for r in held:
        r.cmd("NOOP")
        assert r.code()[0] == 250
        r.close()


# --- message size, recipients --------------------------------------------

@pytest.fixture(scope="module")
def small(request):
    from facteur_instance import Instance
    inst = Instance(config={"max_message_size": "10k",
                            "max_recipients": "3",
                            "max_line_length": "2k"})
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


def test_size_advertised_and_declared_size_refused(small):
    raw = connect(small.port)
    kw = greet(raw)
    assert kw.get("SIZE") == "10240", kw
    raw.cmd("MAIL FROM:<alice@example.test> SIZE=20000")
    code, lines = raw.code()
    assert code == 552 and "5.3.4" in lines[-1], lines
    raw.close()


def test_message_too_big_refused_not_delivered(small):
    n = len(small.message_files("bob"))
    raw = connect(small.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<bob@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("DATA")
    assert raw.code()[0] == 354
    raw.send(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 300 +
             b".\r\n")
    code, lines = raw.code()
    assert code == 552, lines
    raw.cmd("NOOP")
    assert raw.code()[0] == 250
    raw.close()
    time.sleep(1.5)
    assert len(small.message_files("bob")) == n


def test_max_recipients_452(small):
    n = {u: len(small.message_files(u)) for u in ("alice", "bob", "carol")}
    raw = connect(small.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    for u in ("alice", "bob", "carol"):
        raw.cmd("RCPT TO:<%s@example.test>" % u)
        assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<alice@example.test>")
    code, lines = raw.code()
    assert code == 452 and lines[-1].startswith("452 4.5.3"), lines
    raw.cmd("DATA")
    assert raw.code()[0] == 354
    raw.send(b"Subject: three\r\n\r\nthree only\r\n.\r\n")
    assert raw.code()[0] == 250
    raw.close()
    for u in ("alice", "bob", "carol"):
        small.wait_for_delivery(u, n[u] + 1, settle=0.3)


def test_command_line_too_long(small):
    raw = connect(small.port)
    greet(raw)
    raw.send(b"NOOP " + b"x" * 4000 + b"\r\n")
    code, lines = raw.code()
    assert code == 500 and "5.5." in lines[-1], lines
    raw.cmd("NOOP")
    code, lines = raw.code()
    assert code == 250, "the session goes on after a long line: %s" % \
        "\n".join(raw.transcript)
    raw.close()


# --- commands and errors per session ----------------------------------------

def test_max_commands_per_session(make_instance):
    inst = make_instance(config={"max_commands": "10"})
    raw = connect(inst.port)
    assert raw.code()[0] == 220
    codes = []
    for i in range(20):
        raw.cmd("NOOP")
        try:
            code, lines = raw.code()
        except SMTPClosed:
            break
        codes.append(code)
        if code == 421:
            assert lines[-1].startswith("421 4."), lines
            assert closed(raw)
            break
    assert 421 in codes, codes
    assert codes.count(250) <= 10, codes
    raw.close()


def test_max_errors_per_session(make_instance):
    inst = make_instance(config={"max_errors": "3"})
    raw = connect(inst.port)
    greet(raw)
    codes = []
    for i in range(8):
        raw.cmd("BOGUS%d" % i)
        try:
            code, lines = raw.code()
        except SMTPClosed:
            break
        codes.append(code)
        if code == 421:
            assert closed(raw)
            break
    assert codes[:3] == [500, 500, 500], codes
    assert 421 in codes and len(codes) <= 5, codes
    raw.close()


# --- time ---------------------------------------------------------------------

def test_idle_timeout(make_instance):
    inst = make_instance(config={"command_timeout": "1s"})
    raw = connect(inst.port)
    greet(raw)
    t0 = time.monotonic()
    raw.timeout = 6
    try:
        line = raw.line()
    except SMTPClosed:
        line = "(closed without a reply)"
    took = time.monotonic() - t0
    assert line.startswith("421 4.4.2"), line
    assert 0.8 <= took <= 4, took
    assert closed(raw)


def test_session_timeout(make_instance):
    """A client that keeps talking is still cut off at session_timeout."""
    inst = make_instance(config={"session_timeout": "2s",
                                 "command_timeout": "30s"})
    raw = connect(inst.port)
    greet(raw)
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < 8:
        raw.cmd("NOOP")
        try:
            code, lines = raw.code()
        except SMTPClosed:
            last = "closed"
            break
        if code != 250:
            last = lines[-1]
            break
        time.sleep(0.25)
    took = time.monotonic() - t0
    assert last is not None, "still served after 8 s"
    assert last == "closed" or last.startswith("421 4."), last
    assert took < 5, took
    raw.close()


def test_idle_in_data_times_out(make_instance):
    inst = make_instance(config={"data_timeout": "1s"})
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    raw.code()
    raw.cmd("RCPT TO:<bob@example.test>")
    raw.code()
    raw.cmd("DATA")
    assert raw.code()[0] == 354
    raw.send(b"Subject: stalled\r\n\r\nhalf")
    assert closed(raw, 6), "still open after data_timeout 1s"
    time.sleep(1)
    assert inst.message_files("bob") == []


# --- early talkers, slow drip -------------------------------------------------

@pytest.fixture(scope="module")
def pause():
    from facteur_instance import Instance
    inst = Instance(config={"greet_pause": "1s",
                            "greet_pause_exclusions": ""})
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


def test_early_talker_rejected(pause):
    n = len(pause.message_files("bob"))
    s = socket.create_connection(("127.0.0.1", pause.port), timeout=10)
    s.sendall(b"EHLO early.example.test\r\nMAIL FROM:<a@other.test>\r\n"
              b"RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: x\r\n\r\n"
              b"spam\r\n.\r\nQUIT\r\n")
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    first = data.split(b"\r\n")[0]
    assert first.startswith(b"554"), data
    assert b"250 " not in data and b"354" not in data, data
    time.sleep(1)
    assert len(pause.message_files("bob")) == n


def test_polite_client_greeted_after_pause(pause):
    t0 = time.monotonic()
    raw = connect(pause.port)
    code, lines = raw.code()
    took = time.monotonic() - t0
    assert code == 220, lines
    assert took >= 0.8, "greeting after %.2fs, greet_pause is 1s" % took
    ehlo(raw)
    raw.close()


def test_no_greet_pause_on_loopback_by_default(instance):
    t0 = time.monotonic()
    raw = connect(instance.port)
    assert raw.code()[0] == 220
    assert time.monotonic() - t0 < 0.5
    raw.close()


def test_slow_drip_data_cut_off(make_instance):
    """A client trickling its message, each byte well within data_timeout
    (so the idle timer never fires), is cut off by min_data_rate: a DATA
    phase may last data_timeout plus 1 s per min_data_rate octets."""
    inst = make_instance(config={"min_data_rate": "1k",
                                 "data_timeout": "2s"})
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    raw.code()
    raw.cmd("RCPT TO:<bob@example.test>")
    raw.code()
    raw.cmd("DATA")
    assert raw.code()[0] == 354
    t0 = time.monotonic()
    cut = None
    while time.monotonic() - t0 < 15:
        try:
            raw.sock.sendall(b"x")
        except OSError:
            cut = "send failed"
            break
        raw.sock.settimeout(0.2)
        try:
            data = raw.sock.recv(4096)
            if not data or data[:1] in (b"4", b"5"):
                cut = data.decode(errors="replace") or "closed"
                break
        except (socket.timeout, TimeoutError):
            pass
    took = time.monotonic() - t0
    assert cut, "a 5 bytes/s sender was still served after 15 s"
    assert took < 6, "cut off only after %.1fs" % took
    assert cut.startswith("421 4.4.2") or cut == "closed", cut
    raw.close()
    assert inst.message_files("bob") == []


def test_steady_sender_not_cut_off(make_instance):
    """The same limits leave a sender above min_data_rate alone, even when
    its DATA lasts longer than data_timeout."""
    inst = make_instance(config={"min_data_rate": "1k",
                                 "data_timeout": "2s"})
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    raw.code()
    raw.cmd("RCPT TO:<bob@example.test>")
    raw.code()
    raw.cmd("DATA")
    assert raw.code()[0] == 354
    raw.send(b"Subject: steady\r\n\r\n")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.5:        # ~4 kB/s for 3.5 s
        raw.send(b"z" * 78 + b"\r\n")
        time.sleep(0.02)
    raw.send(b".\r\n")
    code, lines = raw.code()
    assert code == 250, lines
    raw.close()
    inst.wait_for_delivery("bob", 1)
