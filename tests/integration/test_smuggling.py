"""
SMTP smuggling (CVE-2023-51764 class, DESIGN.md "Lines and bytes"): from a
client not in bare_newline_exclusions, only CRLF.CRLF ends DATA, so a
second message hidden behind `\\n.\\n`, `\\n.\\r\\n`, `\\r\\n.\\n` or
`\\r.\\r` is never queued. From the excluded loopback (the default), LF.LF
ends DATA, as the lab's netcat session needs.
"""

import time

import pytest

from smtp_dialogue import RawSMTP, SMTPClosed

ENDS = {"lf-dot-lf": b"\n.\n", "lf-dot-crlf": b"\n.\r\n",
        "crlf-dot-lf": b"\r\n.\n", "cr-dot-cr": b"\r.\r"}

SMUGGLED = (b"MAIL FROM:<mallory@example.test>\r\n"
            b"RCPT TO:<carol@example.test>\r\n"
            b"DATA\r\n"
            b"From: alice@example.test\r\nSubject: smuggled\r\n\r\n"
            b"I am not alice\r\n")


def open_data(port):
    s = RawSMTP(port)
    assert s.code()[0] == 220
    s.cmd("EHLO client.example.test")
    assert s.code()[0] == 250
    s.cmd("MAIL FROM:<alice@example.test>")
    assert s.code()[0] == 250
    s.cmd("RCPT TO:<bob@example.test>")
    assert s.code()[0] == 250
    s.cmd("DATA")
    assert s.code()[0] == 354
    return s


@pytest.fixture(scope="module")
def strict():
    from facteur_instance import Instance
    inst = Instance(config={"bare_newline_exclusions": ""})
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


@pytest.mark.parametrize("end", list(ENDS.values()), ids=list(ENDS))
def test_smuggling_refused(strict, end):
    bob0 = len(strict.message_files("bob"))
    carol0 = len(strict.message_files("carol"))
    s = open_data(strict.port)
    s.send(b"Subject: outer\r\n\r\nouter message" + end + SMUGGLED +
           b".\r\n")
    replies = []
    try:
        replies.append(s.reply()[-1])
        s.cmd("QUIT")
        while True:
            replies.append(s.reply()[-1])
    except (SMTPClosed, TimeoutError, OSError):
        pass
    s.close()
    codes = [r[:3] for r in replies]
    # one answer for the whole DATA (250, or a refusal), then QUIT's 221:
    # no replies to smuggled commands
    assert len(codes) == 2 and codes[1] == "221", replies
    assert codes[0] == "250" or codes[0][0] == "5", replies
    time.sleep(1.5)
    assert len(strict.message_files("carol")) == carol0, \
        "the smuggled message was delivered\n" + strict.log_tail()
    bob = strict.message_files("bob")
    assert len(bob) == bob0 + (1 if codes[0] == "250" else 0), bob
    if codes[0] == "250":
        with open(bob[-1], "rb") as f:
            data = f.read()
        assert b"I am not alice" in data, data
    assert "from=<mallory@example.test>" not in strict.log(), \
        strict.log_tail()


def test_lf_dot_lf_ends_data_from_loopback(instance):
    s = open_data(instance.port)
    s.send(b"Subject: netcat\n\nhello\n.\n")
    code, r = s.code()
    assert code == 250, r
    s.send(b"QUIT\n")
    assert s.code()[0] == 221
    s.close()
    data = instance.wait_for_delivery("bob", 1, settle=0.3)[0]
    assert data.endswith(b"\nSubject: netcat\n\nhello\n"), data


def test_crlf_dot_crlf_still_ends_data_when_strict(strict):
    bob0 = len(strict.message_files("bob"))
    s = open_data(strict.port)
    s.send(b"Subject: proper\r\n\r\nproper end\r\n.\r\n")
    code, r = s.code()
    assert code == 250, r
    s.close()
    strict.wait_for_delivery("bob", bob0 + 1)
