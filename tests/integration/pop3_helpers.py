"""
Helpers for the POP3 tests (RFC 1939, RFC 2449, RFC 5034): a raw POP3
client that shows every byte, mail delivered through facteur's own SMTP
listener, accounts added with `facteurctl user add`, and what a POP3 client
must receive for a Maildir file (LF -> CRLF, octets counted as sent).
"""

import base64
import os
import smtplib
import subprocess

from facteur_instance import DOMAIN, sbin
from smtp_dialogue import RawSMTP, SMTPClosed  # noqa: F401


class RawPOP3(RawSMTP):
    """Lines in, lines out (the line reader of RawSMTP: a line that ended
    in a bare LF is returned with " <bare LF!>" appended)."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, sock=None,
                 **kw):
        if sock is not None:
            self.sock = sock
            self.sock.settimeout(timeout)
            self.buf = b""
            self.pushed = []
            self.transcript = []
            self.timeout = timeout
        else:
            super().__init__(port, host=host, timeout=timeout, **kw)

    def status(self):
        """One status line (+OK / -ERR / "+ " continuation)."""
        return self.line()

    def ok(self, line):
        """Sends line, returns the status line, which must be +OK."""
        self.cmd(line)
        r = self.line()
        assert r.startswith("+OK"), "%r -> %r\n%s" % (
            line, r, "\n".join(self.transcript))
        return r

    def multi(self):
        """The data lines of a multi-line response, up to the "." line,
        still byte-stuffed, as bytes (CRLF removed)."""
        out = []
        while True:
            line = self.raw_line()
            if line == b".":
                return out
            out.append(line)

    def raw_line(self):
        """Next line as bytes, without its CRLF; a bare LF line end fails."""
        if self.pushed:
            return self.pushed.pop().encode()
        while b"\n" not in self.buf:
            self.sock.settimeout(self.timeout)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SMTPClosed("connection closed in a multi-line "
                                 "response")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        assert raw.endswith(b"\r"), "line without CR: %r" % raw[:100]
        return raw[:-1]

    def login(self, user, password):
        self.ok("USER " + user)
        return self.ok("PASS " + password)


def unstuff(lines):
    """RFC 1939 3: a data line starting with "." lost its first "."."""
    return [ln[1:] if ln.startswith(b".") else ln for ln in lines]


def pop3_form(maildir_bytes):
    """What RETR must send (unstuffed, before the final "."): the file
    with CRLF line ends."""
    return maildir_bytes.replace(b"\n", b"\r\n")


def add_user(instance, address, password):
    """Adds an account through facteurctl (the tool users run)."""
    r = subprocess.run([sbin("facteurctl"), "-c", instance.conf, "user",
                        "add", address], input=(password + "\n").encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    assert r.returncode == 0 and address in instance.users_text(), \
        "facteurctl user add %s: exit %d: %s" % (
            address, r.returncode, r.stdout.decode(errors="replace"))


def message(n, to="alice@" + DOMAIN, extra=b""):
    """A small test message (CRLF) with a dot-starting line, so that
    byte-stuffing on output is exercised."""
    return (b"From: sender@example.test\r\n"
            b"To: " + to.encode() + b"\r\n"
            b"Subject: message %d\r\n"
            b"Message-ID: <pop3-%d@example.test>\r\n"
            b"\r\n"
            b"Line one of message %d.\r\n"
            b".a line that starts with a dot\r\n"
            b"..two dots\r\n"
            b"\r\n" % (n, n, n) + extra +
            b"last line\r\n")


def deliver(instance, user, messages, sender="sender@" + DOMAIN):
    """Sends each message (bytes, CRLF) to user@DOMAIN by SMTP and waits
    until the Maildir holds them all. Returns the list of Maildir paths
    added (in arrival order)."""
    if isinstance(messages, int):
        messages = [message(i + 1, to="%s@%s" % (user, DOMAIN))
                    for i in range(messages)]
    before = set(instance.message_files(user))
    rcpt = user if "@" in user else "%s@%s" % (user, DOMAIN)
    local = rcpt.split("@")[0]
    with smtplib.SMTP("127.0.0.1", instance.port, timeout=30) as c:
        c.ehlo("client.example.test")
        for m in messages:
            refused = c.sendmail(sender, [rcpt], m)
            assert refused == {}, refused
    instance.wait_for_delivery(local, len(before) + len(messages),
                               timeout=30)
    new = [p for p in instance.message_files(local) if p not in before]
    return sorted(new, key=lambda p: os.path.basename(p))


def base_name(path):
    """Maildir base name: the file name up to the first ',' or ':'."""
    name = os.path.basename(path)
    for sep in (",", ":"):
        name = name.split(sep, 1)[0]
    return name


def auth_plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            password.encode()).decode()


def read_file(path):
    with open(path, "rb") as f:
        return f.read()
