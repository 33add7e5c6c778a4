"""
SMTP AUTH (RFC 4954) through the auth daemon: PLAIN and LOGIN, with and
without an initial response (SASL-IR), "*" cancels, wrong passwords get
535 5.7.8 late and later failures later still, AUTH is offered only under
TLS unless plaintext is allowed (loopback, by default), and no password
ever reaches the log.
"""

import smtplib
import subprocess
import time

import pytest

from facteur_instance import Instance
from smtp_tls import (b64, plain, auth_plain, connect, ehlo, greet,
                      starttls, client_context, received_headers, ALICE)

PASSWORDS = ("alice-pw", "bob-pw", "carol-pw")
WRONG = "Wr0ng-Secret-42"


@pytest.fixture(scope="module")
def auth():
    inst = Instance(tls=True, submission=True, smtps=True,
                    config={"auth_fail_delay": "1s",
                            "auth_fail_delay_max": "8s"})
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


def session(inst, tls=True, port=None, source=None):
    raw = connect(port or inst.submission_port, source=source)
    kw = greet(raw)
    if tls:
        kw = starttls(raw)
    return raw, kw


def test_auth_offered_after_starttls(auth):
    raw, kw = session(auth)
    mechs = kw.get("AUTH", "").upper().split()
    assert "PLAIN" in mechs and "LOGIN" in mechs, kw
    raw.close()


def test_auth_plain_initial_response(auth):
    raw, _ = session(auth)
    code, lines = auth_plain(raw, *ALICE)
    assert code == 235 and lines[-1].startswith("235 2.7.0"), lines
    raw.close()


def test_auth_plain_without_initial_response(auth):
    raw, _ = session(auth)
    raw.cmd("AUTH PLAIN")
    code, lines = raw.code()
    assert code == 334 and lines[-1].rstrip() == "334", lines
    raw.cmd(plain(*ALICE))
    code, lines = raw.code()
    assert code == 235, lines
    raw.close()


def test_auth_plain_empty_initial_response(auth):
    """"=" is an empty initial response (RFC 4954 4): for PLAIN it cannot
    authenticate anyone."""
    raw, _ = session(auth)
    raw.cmd("AUTH PLAIN =")
    code, lines = raw.code()
    assert code in (501, 535), lines
    raw.close()


def test_auth_login(auth):
    raw, _ = session(auth)
    raw.cmd("AUTH LOGIN")
    code, lines = raw.code()
    assert lines[-1] == "334 VXNlcm5hbWU6", lines    # "Username:"
    raw.cmd(b64(ALICE[0]))
    code, lines = raw.code()
    assert lines[-1] == "334 UGFzc3dvcmQ6", lines    # "Password:"
    raw.cmd(b64(ALICE[1]))
    code, lines = raw.code()
    assert code == 235, lines
    raw.close()


def test_auth_login_initial_response(auth):
    raw, _ = session(auth)
    raw.cmd("AUTH LOGIN " + b64(ALICE[0]))
    code, lines = raw.code()
    assert lines[-1] == "334 UGFzc3dvcmQ6", lines
    raw.cmd(b64(ALICE[1]))
    assert raw.code()[0] == 235
    raw.close()


def test_auth_mechanism_case_insensitive(auth):
    raw, _ = session(auth)
    raw.cmd("auth plain " + plain(*ALICE))
    assert raw.code()[0] == 235
    raw.close()


def test_auth_cancel(auth):
    raw, _ = session(auth)
    raw.cmd("AUTH LOGIN")
    assert raw.code()[0] == 334
    raw.cmd("*")
    code, lines = raw.code()
    assert code == 501, lines
    # still usable, still unauthenticated, may try again
    code, lines = auth_plain(raw, *ALICE)
    assert code == 235, lines
    raw.close()


def test_auth_bad_base64(auth):
    raw, _ = session(auth)
    raw.cmd("AUTH PLAIN !!!not-base64!!!")
    code, lines = raw.code()
    assert code == 501 and "5.5.2" in lines[-1], lines
    raw.close()


def test_auth_unknown_mechanism(auth):
    raw, _ = session(auth)
    raw.cmd("AUTH CRAM-MD5")
    code, lines = raw.code()
    assert code == 504, lines
    raw.close()


def test_auth_twice(auth):
    raw, _ = session(auth)
    assert auth_plain(raw, *ALICE)[0] == 235
    code, lines = auth_plain(raw, *ALICE)
    assert code == 503, lines
    raw.close()


def test_auth_during_transaction(auth):
    raw, _ = session(auth, port=auth.port)     # smtp: MAIL without AUTH
    raw.cmd("MAIL FROM:<carol@example.test>")
    assert raw.code()[0] == 250
    code, lines = auth_plain(raw, *ALICE)
    assert code == 503, lines
    raw.close()


def test_auth_before_ehlo(auth):
    raw = connect(auth.submission_port)
    assert raw.code()[0] == 220
    code, lines = auth_plain(raw, *ALICE)
    assert code == 503, lines
    raw.close()


def test_wrong_password_535_after_a_delay(auth):
    raw, _ = session(auth, source=("127.0.0.11", 0))
    t0 = time.monotonic()
    code, lines = auth_plain(raw, ALICE[0], WRONG)
    took = time.monotonic() - t0
    assert code == 535 and lines[-1].startswith("535 5.7.8"), lines
    assert took >= 0.8, "refusal after %.2fs (auth_fail_delay 1s)" % took
    raw.close()


def test_unknown_user_like_wrong_password(auth):
    raw, _ = session(auth, source=("127.0.0.12", 0))
    t0 = time.monotonic()
    code, lines = auth_plain(raw, "nobody@example.test", WRONG)
    took = time.monotonic() - t0
    assert code == 535 and lines[-1].startswith("535 5.7.8"), lines
    assert took >= 0.8, took
    raw.close()


def test_repeated_failures_throttled(auth):
    """From one client address each further failure comes later; another
    client address is not slowed down by it."""
    raw, _ = session(auth, source=("127.0.0.13", 0))
    took = []
    for i in range(3):
        t0 = time.monotonic()
        code, lines = auth_plain(raw, ALICE[0], WRONG + str(i))
        took.append(time.monotonic() - t0)
        if code == 421:         # cut off after too many errors: reconnect
            raw.close()
            raw, _ = session(auth, source=("127.0.0.13", 0))
            continue
        assert code == 535, lines
    raw.close()
    assert took[2] > took[0] + 0.8 and took[1] > took[0] + 0.3, \
        "failure delays did not grow: %s" % ["%.2f" % t for t in took]
    other, _ = session(auth, source=("127.0.0.14", 0))
    t0 = time.monotonic()
    code, _ = auth_plain(other, ALICE[0], WRONG)
    fresh = time.monotonic() - t0
    assert code == 535 and fresh < took[2] - 0.5, (fresh, took)
    other.close()


def test_success_is_not_delayed(auth):
    raw, _ = session(auth, source=("127.0.0.15", 0))
    t0 = time.monotonic()
    assert auth_plain(raw, *ALICE)[0] == 235
    assert time.monotonic() - t0 < 0.8
    raw.close()


def test_smtplib_starttls_login(auth):
    n = len(auth.message_files("bob"))
    with smtplib.SMTP("127.0.0.1", auth.submission_port, timeout=10) as c:
        c.ehlo("client.example.test")
        c.starttls(context=client_context())
        c.ehlo("client.example.test")
        code, _ = c.login(*ALICE)
        assert code == 235
        c.sendmail(ALICE[0], ["bob@example.test"],
                   b"Subject: smtplib login\r\n\r\nhi\r\n")
    auth.wait_for_delivery("bob", n + 1)
    data = [d for d in auth.messages("bob") if b"smtplib login" in d][0]
    rec = received_headers(data)[0]
    assert "ESMTPSA" in rec, rec


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_tls_auth(auth, mech):
    n = len(auth.message_files("carol"))
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % auth.submission_port,
         "--tls", "--auth", mech, "--auth-user", ALICE[0],
         "--auth-password", ALICE[1], "--helo", "swaks.example.test",
         "--from", ALICE[0], "--to", "carol@example.test",
         "--header", "Subject: swaks %s" % mech],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + auth.log_tail()
    assert "<~  235 2.7.0" in out, out
    auth.wait_for_delivery("carol", n + 1)


def test_swaks_wrong_password(auth):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % auth.submission_port,
         "--tls", "--auth", "LOGIN", "--auth-user", ALICE[0],
         "--auth-password", WRONG, "--from", ALICE[0],
         "--to", "carol@example.test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode(errors="replace")
    assert r.returncode != 0, out
    assert "535 5.7.8" in out, out


def test_passwords_never_logged(auth):
    """After every test above (successes, failures, LOGIN, PLAIN), neither
    a password nor its base64 form is in the log."""
    raw, _ = session(auth)
    auth_plain(raw, ALICE[0], WRONG + "-last")
    raw.close()
    time.sleep(0.5)
    log = auth.log()
    with open(auth.log_file, errors="replace") as f:
        log += f.read()
    for pw in PASSWORDS + (WRONG,):
        assert pw not in log, "password %r in the log" % pw
        assert b64(pw) not in log
    assert plain(*ALICE) not in log
    assert plain(ALICE[0], WRONG) not in log


# --- when AUTH may be offered -------------------------------------------------

def test_plaintext_auth_on_loopback_by_default(auth):
    """The lab: plaintext AUTH on a loopback connection (the default
    allow_plaintext_auth = loopback)."""
    raw, kw = session(auth, tls=False)
    assert "AUTH" in kw, kw
    assert auth_plain(raw, *ALICE)[0] == 235
    raw.close()


@pytest.fixture(scope="module")
def strict():
    inst = Instance(tls=True, submission=True,
                    config={"allow_plaintext_auth": "never"})
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_no_auth_before_tls_when_plaintext_not_allowed(strict, listener):
    port = strict.port if listener == "smtp" else strict.submission_port
    raw, kw = session(strict, tls=False, port=port)
    assert "AUTH" not in kw, kw
    assert "STARTTLS" in kw, kw
    code, lines = auth_plain(raw, *ALICE)
    assert code == 538 and "5.7.11" in lines[-1], lines   # RFC 4954 6
    assert code != 235
    kw = starttls(raw)
    assert "PLAIN" in kw.get("AUTH", "").split(), kw
    assert auth_plain(raw, *ALICE)[0] == 235
    raw.close()
