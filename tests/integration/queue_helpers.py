"""
Helpers for the queue tests (issue 4): submitting over SMTP (the `smtp`
listener) or over the local socket (`<run_dir>/sendmail.sock`, which may
relay), running facteurctl/mailq, making a Maildir unwritable so that
deliveries fail temporarily, reading the log with its time stamps, and
parsing delivered messages.
"""

import contextlib
import email
import email.policy
import json
import os
import re
import smtplib
import socket
import subprocess
import time

from facteur_instance import DOMAIN, sbin

QUEUE_ID = re.compile(r"\b[0-9A-F]{16}\b")


class UnixSMTP(smtplib.SMTP):
    """smtplib over a Unix stream socket (facteur's `local` listener)."""

    def __init__(self, path, timeout=30):
        self.unix_path = path
        super().__init__(timeout=timeout)
        code, msg = self.connect()
        if code != 220:
            self.close()
            raise smtplib.SMTPConnectError(code, msg)

    def connect(self, host="localhost", port=0, source_address=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)
        self.file = None
        return self.getreply()


def local_socket(inst):
    return os.path.join(inst.run_dir, "sendmail.sock")


def message(subject, body=None, sender="alice@example.test", to=None,
            msgid=None, extra=""):
    to = to or "bob@example.test"
    msgid = msgid or "%s.%f@client.example.test" % (
        re.sub(r"\W", "-", subject), time.time())
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"
            "%s\r\n%s\r\n" % (sender or "MAILER-DAEMON", to, subject, msgid,
                              extra, body or "body of " + subject)).encode()


def submit(inst, sender, rcpts, data, via="smtp", rcpt_options=(),
           mail_options=()):
    """One transaction; returns the queue id from the 250 reply. via is
    "smtp" (the MX listener: no relaying) or "local" (the sendmail
    socket: relaying allowed, bare LF allowed)."""
    if via == "local":
        c = UnixSMTP(local_socket(inst))
    else:
        c = smtplib.SMTP("127.0.0.1", inst.port, timeout=30)
    try:
        c.ehlo("client.example.test")
        code, resp = c.mail(sender, list(mail_options))
        assert code == 250, (code, resp)
        for r in rcpts:
            code, resp = c.rcpt(r, list(rcpt_options))
            assert code in (250, 251), (r, code, resp)
        code, resp = c.data(data)
        assert code == 250, (code, resp)
        m = re.search(r"queued as ([0-9A-F]{16})", resp.decode())
        assert m, resp
        return m.group(1)
    finally:
        try:
            c.quit()
        except (smtplib.SMTPException, OSError):
            c.close()


def ctl(inst, *args, check=True, timeout=40, prog="facteurctl"):
    """Runs facteurctl (or mailq) -c CONF ARGS; returns the CompletedProcess
    (text). check: the exit status must be 0."""
    r = subprocess.run([sbin(prog), "-c", inst.conf] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, text=True, errors="replace")
    if check:
        assert r.returncode == 0, "%s %s: exit %d\nstdout: %s\nstderr: %s" % (
            prog, " ".join(args), r.returncode, r.stdout, r.stderr)
    return r


def ctl_json(inst, *args):
    r = ctl(inst, *args)
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise AssertionError("facteurctl %s: not one JSON document (%s):\n%s"
                             % (" ".join(args), e, r.stdout))


def queue_json(inst):
    return ctl_json(inst, "queue", "list", "--json")


def queue_entry(inst, qid):
    for m in queue_json(inst)["messages"]:
        if m["queue_id"] == qid:
            return m
    return None


def wait_for(what, cond, timeout=20.0, step=0.1, inst=None):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s%s" % (
                timeout, what, ("\n" + inst.log_tail()) if inst else ""))
        time.sleep(step)


def wait_queue_empty(inst, timeout=30.0):
    wait_for("an empty queue",
             lambda: queue_json(inst)["count"] == 0, timeout, 0.3, inst)


@contextlib.contextmanager
def unwritable_maildir(inst, user):
    """The user's Maildir exists but its owner cannot enter it: deliveries
    to it fail temporarily (as with a full or broken mail store)."""
    path = inst.maildir(user)
    if not os.path.isdir(path):
        # let facteur create it (with the right owner) by delivering once
        submit(inst, "alice@example.test", ["%s@%s" % (user, DOMAIN)],
               message("create the maildir of " + user))
        inst.wait_for_delivery(user, 1)
    mode = os.stat(path).st_mode & 0o7777
    os.chmod(path, 0)
    state = {"restored": False}

    def restore():
        if not state["restored"]:
            os.chmod(path, mode)
            state["restored"] = True
    try:
        yield restore
    finally:
        restore()


LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) (.*)$")


def log_lines(inst):
    """[(unix time, text)] of the log_file (it carries millisecond time
    stamps; facteurd's stderr does not)."""
    try:
        with open(inst.log_file, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        m = LOG_STAMP.match(line)
        if m:
            t = time.mktime(time.strptime(m.group(1)[:19],
                                          "%Y-%m-%dT%H:%M:%S"))
            out.append((t + int(m.group(1)[20:]) / 1000.0, m.group(2)))
    return out


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.compat32)


def messages_with_subject(inst, user, pattern):
    return [m for m in inst.messages(user)
            if re.search(pattern.encode(), m)]


def dsn_parts(data):
    """Checks the RFC 3464 shape of a delivery status notification and
    returns (message, per-message fields, [per-recipient fields], third
    part or None)."""
    msg = parse(data)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status", \
        msg.get("Content-Type")
    parts = msg.get_payload()
    assert len(parts) >= 2, "a DSN has at least 2 parts, got %d" % len(parts)
    assert parts[0].get_content_type() == "text/plain", \
        parts[0].get_content_type()
    assert parts[1].get_content_type() == "message/delivery-status", \
        parts[1].get_content_type()
    blocks = parts[1].get_payload()
    assert isinstance(blocks, list) and len(blocks) >= 2, \
        "message/delivery-status needs per-message and per-recipient fields"
    third = parts[2] if len(parts) > 2 else None
    if third is not None:
        assert third.get_content_type() in ("text/rfc822-headers",
                                            "message/rfc822"), \
            third.get_content_type()
    return msg, blocks[0], blocks[1:], third
