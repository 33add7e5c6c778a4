"""
The SMTP extensions (issue 3): DSN (RFC 3461) parameters stored with the
envelope, SMTPUTF8 (RFC 6531), CHUNKING/BDAT (RFC 3030), and every
keyword EHLO advertises works for real.
"""

import os
import re
import smtplib
import time

import pytest

from facteur_instance import Instance, check_maildir_file
from smtp_dialogue import RawSMTP
from smtp_tls import (connect, ehlo, greet, starttls, auth_plain,
                      client_context, received_headers, spool_envelopes,
                      envelope_fields, ALICE)


@pytest.fixture(scope="module")
def ext():
    inst = Instance(tls=True, submission=True)
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


def local_socket(inst):
    """The local listener (relays without AUTH, like sendmail)."""
    raw = RawSMTP(None, unix=os.path.join(inst.run_dir, "sendmail.sock"))
    greet(raw, "localhost")
    return raw


def queued_id(lines):
    m = re.search(r"queued as ([0-9A-F]{16})", lines[-1])
    assert m, lines
    return m.group(1)


def wait_envelope(inst, qid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        env = spool_envelopes(inst).get(qid)
        if env:
            return env
        time.sleep(0.1)
    raise AssertionError("no spool file for %s\n%s" % (qid,
                                                       inst.log_tail()))


def decode(v):
    return re.sub(r"%([0-9A-Fa-f]{2})",
                  lambda m: chr(int(m.group(1), 16)), v)


def decode_bytes(v):
    """An envelope value (%XX-encoded UTF-8) back to its bytes."""
    return re.sub(rb"%([0-9A-Fa-f]{2})",
                  lambda m: bytes([int(m.group(1), 16)]),
                  v.encode("utf-8"))


def transaction(raw, mail, rcpts, body=b"Subject: t\r\n\r\nt\r\n"):
    raw.cmd(mail)
    code, lines = raw.code()
    assert code == 250, lines
    for r in rcpts:
        raw.cmd(r)
        code, lines = raw.code()
        assert code == 250, lines
    raw.cmd("DATA")
    assert raw.code()[0] == 354
    raw.send(body + b".\r\n")
    code, lines = raw.code()
    assert code == 250, lines
    return queued_id(lines)


# --- DSN ----------------------------------------------------------------------

def test_dsn_advertised(ext):
    raw = connect(ext.port)
    assert "DSN" in greet(raw)
    raw.close()


def test_dsn_parameters_stored_in_envelope(ext):
    raw = local_socket(ext)
    qid = transaction(
        raw, "MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ314159",
        ["RCPT TO:<far@elsewhere.example> NOTIFY=SUCCESS,FAILURE "
         "ORCPT=rfc822;far@elsewhere.example",
         "RCPT TO:<other@elsewhere.example> NOTIFY=NEVER"])
    raw.close()
    f = envelope_fields(wait_envelope(ext, qid))
    d = dict(f)
    assert d.get("ret") == "HDRS", f
    assert d.get("envid") == "QQ314159", f
    rcpts = [v.split() for k, v in f if k == "rcpt"]
    assert len(rcpts) == 2, rcpts
    opts = {r[0]: dict(o.split("=", 1) for o in r[2:]) for r in rcpts}
    far = opts["far@elsewhere.example"]
    assert set(far["notify"].upper().split(",")) == {"SUCCESS", "FAILURE"}, \
        far
    assert decode(far["orcpt"]).lower() == "rfc822;far@elsewhere.example", \
        far
    assert opts["other@elsewhere.example"]["notify"].upper() == "NEVER"
    assert opts["other@elsewhere.example"].get("orcpt", "-") == "-"


def test_dsn_xtext_envid_and_orcpt(ext):
    """xtext (RFC 3461 4): "+2B" is '+', "+3D" is '='."""
    raw = local_socket(ext)
    qid = transaction(
        raw, "MAIL FROM:<alice@example.test> RET=FULL ENVID=a+2Bb+3Dc",
        ["RCPT TO:<x@elsewhere.example> ORCPT=rfc822;x+2By@elsewhere.example"])
    raw.close()
    f = dict(envelope_fields(wait_envelope(ext, qid)))
    assert f["ret"] == "FULL"
    assert decode(f["envid"]) in ("a+b=c", "a+2Bb+3Dc"), f
    rcpt = dict(o.split("=", 1) for o in f["rcpt"].split()[2:])
    assert decode(rcpt["orcpt"]) in ("rfc822;x+y@elsewhere.example",
                                     "rfc822;x+2By@elsewhere.example"), rcpt


@pytest.mark.parametrize("cmd,code", [
    ("MAIL FROM:<alice@example.test> RET=SOME", 501),
    ("MAIL FROM:<alice@example.test> RET=FULL RET=HDRS", 501),
    ("MAIL FROM:<alice@example.test> ENVID=" + "x" * 101, 501),
    ("MAIL FROM:<alice@example.test> ENVID=bad+ZZ", 501),
])
def test_dsn_bad_mail_parameters(ext, cmd, code):
    raw = connect(ext.port)
    greet(raw)
    raw.cmd(cmd)
    got, lines = raw.code()
    assert got == code, lines
    raw.close()


@pytest.mark.parametrize("param", [
    "NOTIFY=SOMETIMES", "NOTIFY=NEVER,SUCCESS", "NOTIFY=",
    "ORCPT=bob@example.test", "NOTIFY=SUCCESS NOTIFY=FAILURE",
])
def test_dsn_bad_rcpt_parameters(ext, param):
    raw = connect(ext.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<bob@example.test> " + param)
    code, lines = raw.code()
    assert code == 501, lines
    raw.close()


def test_dsn_with_smtplib_delivers(ext):
    n = len(ext.message_files("bob"))
    with smtplib.SMTP("127.0.0.1", ext.port, timeout=10) as c:
        c.ehlo("client.example.test")
        assert c.has_extn("dsn")
        c.sendmail("alice@example.test", ["bob@example.test"],
                   b"Subject: dsn\r\n\r\nx\r\n",
                   mail_options=["RET=HDRS", "ENVID=id1"],
                   rcpt_options=["NOTIFY=FAILURE,DELAY",
                                 "ORCPT=rfc822;bob@example.test"])
    ext.wait_for_delivery("bob", n + 1)


# --- SMTPUTF8 -------------------------------------------------------------

def test_smtputf8_advertised(ext):
    raw = connect(ext.port)
    kw = greet(raw)
    assert "SMTPUTF8" in kw and "8BITMIME" in kw, kw
    raw.close()


def test_utf8_sender_delivered_with_smtputf8(ext):
    n = len(ext.message_files("carol"))
    sender = "jos\u00e9@\u00e9l\u00e8ve.example"
    body = ("From: %s\r\nTo: carol@example.test\r\n"
            "Subject: caf\u00e9 cr\u00e8me\r\n\r\nd\u00e9j\u00e0 vu\r\n"
            % sender).encode("utf-8")
    with smtplib.SMTP("127.0.0.1", ext.port, timeout=10) as c:
        c.ehlo("client.example.test")
        assert c.has_extn("smtputf8")
        c.sendmail(sender, ["carol@example.test"], body,
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    ext.wait_for_delivery("carol", n + 1)
    data = [d for d in ext.messages("carol")
            if "d\u00e9j\u00e0 vu".encode() in d][0]
    assert data.startswith(("Return-Path: <%s>\n" % sender).encode()), \
        data[:200]
    rec = received_headers(data)[0]
    assert "UTF8SMTP" in rec, rec
    assert data.endswith(body.replace(b"\r\n", b"\n"))


def test_utf8_address_without_smtputf8_refused(ext):
    raw = connect(ext.port)
    greet(raw)
    raw.cmd("MAIL FROM:<jos\u00e9@elsewhere.example>")
    code, lines = raw.code()
    assert 500 <= code < 600, lines
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<jos\u00e9@elsewhere.example>")
    code, lines = raw.code()
    assert 500 <= code < 600, lines
    raw.close()


def test_utf8_relayed_recipient_stored(ext):
    """A UTF-8 recipient relayed by an authenticated user: queued with
    smtputf8 set in the envelope."""
    raw = connect(ext.submission_port)
    greet(raw)
    starttls(raw)
    assert auth_plain(raw, *ALICE)[0] == 235
    rcpt = "\u7528\u6237@\u4f8b\u5b50.example"
    qid = transaction(raw, "MAIL FROM:<alice@example.test> SMTPUTF8",
                      ["RCPT TO:<%s>" % rcpt],
                      "Subject: \u4f60\u597d\r\n\r\nhi\r\n".encode())
    raw.close()
    f = envelope_fields(wait_envelope(ext, qid))
    d = dict(f)
    assert d.get("smtputf8") == "1", f
    r = [v.split()[0] for k, v in f if k == "rcpt"]
    assert [decode_bytes(x) for x in r] == [rcpt.encode("utf-8")], r


def test_utf8_unknown_local_user(ext):
    raw = connect(ext.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test> SMTPUTF8")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<\u00e9l\u00e8ve@example.test>")
    code, lines = raw.code()
    assert code == 550, lines
    raw.close()


# --- CHUNKING / BDAT --------------------------------------------------------------

def bdat_session(port):
    raw = connect(port)
    kw = greet(raw)
    assert "CHUNKING" in kw, kw
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<bob@example.test>")
    assert raw.code()[0] == 250
    return raw


def test_bdat_chunks_land_byte_exact(ext):
    """Chunks cut anywhere (inside a CRLF too); no dot-stuffing in BDAT,
    so lines starting with '.' and a CRLF.CRLF inside are content."""
    n = len(ext.message_files("bob"))
    msg = (b"From: alice@example.test\r\nTo: bob@example.test\r\n"
           b"Subject: chunked\r\n\r\nfirst line\r\n.leading dot\r\n"
           b"..two dots\r\n.\r\nafter a lone dot\r\n" +
           b"x" * 5000 + b"\r\nlast line\r\n")
    cuts = [7, 60, 61, 95, 96, 2000]
    chunks, prev = [], 0
    for c in cuts:
        chunks.append(msg[prev:c])
        prev = c
    rest = msg[prev:]
    raw = bdat_session(ext.port)
    for ch in chunks:
        raw.send(b"BDAT %d\r\n" % len(ch) + ch)
        code, lines = raw.code()
        assert code == 250, lines
    raw.send(b"BDAT %d LAST\r\n" % len(rest) + rest)
    code, lines = raw.code()
    assert code == 250 and "queued as" in lines[-1], lines
    raw.cmd("QUIT")
    raw.close()
    ext.wait_for_delivery("bob", n + 1)
    path = [p for p in ext.message_files("bob")
            if b"Subject: chunked" in open(p, "rb").read()][0]
    check_maildir_file(path)
    data = open(path, "rb").read()
    assert data.endswith(msg.replace(b"\r\n", b"\n")), data[-300:]


def test_bdat_pipelined(ext):
    """RFC 3030: BDAT chunks and the commands around them may be sent in
    one write; every reply comes, in order."""
    n = len(ext.message_files("alice"))
    raw = connect(ext.port)
    greet(raw)
    part1 = b"Subject: pipelined bdat\r\n\r\n"
    part2 = b"one write\r\n"
    raw.send(b"MAIL FROM:<carol@example.test>\r\n"
             b"RCPT TO:<alice@example.test>\r\n" +
             b"BDAT %d\r\n" % len(part1) + part1 +
             b"BDAT %d LAST\r\n" % len(part2) + part2 + b"QUIT\r\n")
    codes = [raw.code()[0] for _ in range(5)]
    assert codes == [250, 250, 250, 250, 221], "\n".join(raw.transcript)
    raw.close()
    data = ext.wait_for_delivery("alice", n + 1)
    assert any(d.endswith(b"\n\none write\n") for d in data)


def test_bdat_zero_last(ext):
    n = len(ext.message_files("bob"))
    raw = bdat_session(ext.port)
    body = b"Subject: bdat 0 last\r\n\r\nx\r\n"
    raw.send(b"BDAT %d\r\n" % len(body) + body)
    assert raw.code()[0] == 250
    raw.cmd("BDAT 0 LAST")
    code, lines = raw.code()
    assert code == 250 and "queued as" in lines[-1], lines
    raw.close()
    ext.wait_for_delivery("bob", n + 1)


def test_bdat_without_mail(ext):
    raw = connect(ext.port)
    greet(raw)
    raw.send(b"BDAT 3 LAST\r\nabc")
    code, lines = raw.code()
    assert code == 503, lines
    # the 3 bytes were consumed as the chunk, not as a command
    raw.cmd("NOOP")
    code, lines = raw.code()
    assert code == 250, "\n".join(raw.transcript)
    raw.close()


def test_bdat_then_data_refused(ext):
    raw = bdat_session(ext.port)
    raw.send(b"BDAT 4\r\nab\r\n")
    assert raw.code()[0] == 250
    raw.cmd("DATA")
    code, lines = raw.code()
    assert code == 503, lines
    raw.close()


@pytest.mark.parametrize("arg", ["", "x", "-1", "5 FIRST", "99999999999999999999"])
def test_bdat_bad_arguments(ext, arg):
    raw = bdat_session(ext.port)
    raw.cmd(("BDAT " + arg).rstrip())
    code, lines = raw.code()
    assert code in (501, 552, 554), lines
    raw.close()


def test_bdat_too_big(make_instance):
    inst = make_instance(config={"max_message_size": "10k"})
    raw = bdat_session(inst.port)
    raw.send(b"BDAT 20000 LAST\r\n" + b"y" * 19998 + b"\r\n")
    code, lines = raw.code()
    assert code == 552, lines
    raw.close()


def test_bdat_smtplib_send_message_is_not_broken(ext):
    """smtplib does not use BDAT; the same session keeps working for DATA
    after a BDAT transaction."""
    raw = bdat_session(ext.port)
    body = b"Subject: first\r\n\r\n1\r\n"
    raw.send(b"BDAT %d LAST\r\n" % len(body) + body)
    assert raw.code()[0] == 250
    qid = transaction(raw, "MAIL FROM:<alice@example.test>",
                      ["RCPT TO:<carol@example.test>"])
    assert qid
    raw.close()


# --- everything EHLO advertises works ------------------------------------------

def check_pipelining(inst):
    raw = connect(inst.port)
    greet(raw)
    raw.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>"
             b"\r\nRSET\r\nNOOP\r\n")
    assert [raw.code()[0] for _ in range(4)] == [250, 250, 250, 250]
    raw.close()


def check_size(inst):
    raw = connect(inst.port)
    kw = greet(raw)
    limit = int(kw["SIZE"])
    assert limit > 0
    raw.cmd("MAIL FROM:<alice@example.test> SIZE=%d" % (limit + 1))
    assert raw.code()[0] == 552
    raw.close()


def check_8bitmime(inst):
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test> BODY=8BITMIME")
    assert raw.code()[0] == 250
    raw.close()


def check_enhancedstatuscodes(inst):
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("RCPT TO:<bob@example.test>")
    code, lines = raw.code()
    assert re.match(r"503 5\.5\.1 ", lines[-1]), lines
    raw.close()


def check_starttls(inst):
    raw = connect(inst.port)
    greet(raw)
    starttls(raw)
    raw.close()


def check_auth(inst):
    raw = connect(inst.port)
    greet(raw)
    starttls(raw)
    assert auth_plain(raw, *ALICE)[0] == 235
    raw.close()


def check_dsn(inst):
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test> RET=HDRS")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER")
    assert raw.code()[0] == 250
    raw.close()


def check_smtputf8(inst):
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("MAIL FROM:<jos\u00e9@elsewhere.example> SMTPUTF8")
    assert raw.code()[0] == 250
    raw.close()


def check_chunking(inst):
    raw = bdat_session(inst.port)
    raw.send(b"BDAT 5 LAST\r\nx\r\n\r\n")
    assert raw.code()[0] == 250
    raw.close()


def check_help(inst):
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("HELP")
    assert raw.code()[0] in (211, 214)
    raw.close()


def check_binarymime(inst):
    raw = bdat_session(inst.port)
    raw.cmd("RSET")
    assert raw.code()[0] == 250
    raw.cmd("MAIL FROM:<alice@example.test> BODY=BINARYMIME")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<bob@example.test>")
    assert raw.code()[0] == 250
    raw.send(b"BDAT 6 LAST\r\n\x00\x01\r\n\r\n")
    assert raw.code()[0] == 250
    raw.close()


def check_vrfy(inst):
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("VRFY bob")
    assert raw.code()[0] in (250, 251, 252, 550, 553)
    raw.close()


CHECKS = {
    "PIPELINING": check_pipelining, "SIZE": check_size,
    "8BITMIME": check_8bitmime, "ENHANCEDSTATUSCODES":
    check_enhancedstatuscodes, "STARTTLS": check_starttls,
    "AUTH": check_auth, "DSN": check_dsn, "SMTPUTF8": check_smtputf8,
    "CHUNKING": check_chunking, "HELP": check_help,
    "BINARYMIME": check_binarymime, "VRFY": check_vrfy,
}


def test_every_ehlo_keyword_works(ext):
    raw = connect(ext.port)
    kw = greet(raw)
    raw.close()
    unknown = sorted(set(kw) - set(CHECKS))
    assert not unknown, "advertised, no check for it here: %s" % unknown
    for word in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                 "STARTTLS", "DSN", "SMTPUTF8", "CHUNKING"):
        assert word in kw, "issue 3 wants %s advertised: %s" % (word, kw)
    failed = []
    for word in sorted(kw):
        try:
            CHECKS[word](ext)
        except AssertionError as e:
            failed.append("%s: %s" % (word, e))
    assert not failed, "\n".join(failed) + ext.log_tail(20)
