"""Load generators and the measurement of one row: send COUNT messages over
SESSIONS parallel sessions, time the sending (accept rate), then wait until
every message is in the Maildir (end-to-end).

A load generator is a class with a name, the listener it uses (a key of the
target's `ports`) and run(port, sessions, count, size) -> LoadRun. The
plain-SMTP one drives Postfix's smtp-source(1). A STARTTLS variant is a new
class here (smtp-source speaks no TLS, so another client) plus an entry in
LOADS, and TLS settings in the two targets."""

import multiprocessing
import os
import smtplib
import ssl
import subprocess
import time
from dataclasses import dataclass, field

from .common import BenchError, SENDER, RCPT, maildir_count, maildir_empty

SMTP_SOURCE = "/usr/sbin/smtp-source"


@dataclass
class LoadRun:
    seconds: float		# wall clock of the whole run
    ok: bool		# the client reported no error
    detail: str = ""	# first error lines, for the report


@dataclass
class Row:
    target: str
    sessions: int
    count: int
    accept_seconds: float
    e2e_seconds: float	# None when the Maildir did not fill in time
    delivered: int
    errors: list = field(default_factory=list)

    @property
    def accept_rate(self):
        return self.count / self.accept_seconds if self.accept_seconds else 0

    @property
    def e2e_rate(self):
        if self.e2e_seconds is None:
            return None
        return self.count / self.e2e_seconds


class SmtpSourceLoad:
    """Plain SMTP with smtp-source: one message per connection (no -d),
    one recipient, SIZE-byte bodies."""
    name = "plain"
    listener = "plain"
    tls = False

    def __init__(self):
        if not os.access(SMTP_SOURCE, os.X_OK):
            raise BenchError("%s missing: apt-get install postfix" %
                             SMTP_SOURCE)

    def run(self, port, sessions, count, size):
        argv = [SMTP_SOURCE, "-c", "-s", str(sessions), "-m", str(count),
                "-l", str(size), "-f", SENDER, "-t", RCPT,
                "127.0.0.1:%d" % port]
        t0 = time.monotonic()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        secs = time.monotonic() - t0
        err = r.stderr.strip()
        ok = r.returncode == 0 and not err
        detail = ""
        if not ok:
            lines = err.splitlines()
            detail = "smtp-source exit %d: %s" % (r.returncode,
                                                  "; ".join(lines[:3]))
            if len(lines) > 3:
                detail += " (+%d more lines)" % (len(lines) - 3)
        return LoadRun(secs, ok, detail)


def _message(size):
    """About SIZE bytes of CRLF text, like smtp-source's (-l) body."""
    head = ("From: %s\r\nTo: %s\r\nSubject: starttls benchmark\r\n\r\n"
            % (SENDER, RCPT)).encode()
    line = b"x" * 78 + b"\r\n"
    n = max(0, size - len(head)) // len(line) + 1
    return head + line * n


def _starttls_worker(job):
    """One session slot: COUNT messages, one per connection (connect, EHLO,
    STARTTLS, EHLO, MAIL, RCPT, DATA, QUIT), each with a full handshake.
    Returns (sent, first error or "")."""
    port, count, size = job
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE     # the targets' self-signed cert
    msg = _message(size)
    sent, err = 0, ""
    for _ in range(count):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as c:
                c.ehlo("bench.example.test")
                c.starttls(context=ctx)
                c.ehlo("bench.example.test")
                c.sendmail(SENDER, [RCPT], msg)
            sent += 1
        except (OSError, smtplib.SMTPException) as e:
            if not err:
                err = "%s: %s" % (type(e).__name__, e)
    return sent, err


class StarttlsLoad:
    """STARTTLS on the smtp listener with Python's smtplib: SESSIONS worker
    processes (not threads: no GIL between them), each sending its share
    of COUNT messages one per connection, like smtp-source -c, with a full
    TLS handshake per message (no session resumption: both targets pay
    the same). The client costs more CPU than smtp-source and shares the
    cores with the server: compare the ratio, not the absolute rates."""
    name = "starttls"
    listener = "plain"
    tls = True

    def run(self, port, sessions, count, size):
        shares = [count // sessions + (1 if i < count % sessions else 0)
                  for i in range(sessions)]
        jobs = [(port, n, size) for n in shares if n]
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(len(jobs)) as pool:
            # workers are forked before the clock starts
            pool.map(_noop, range(len(jobs)))
            t0 = time.monotonic()
            results = pool.map(_starttls_worker, jobs, chunksize=1)
            secs = time.monotonic() - t0
        sent = sum(r[0] for r in results)
        errs = [r[1] for r in results if r[1]]
        ok = sent == count and not errs
        detail = ""
        if not ok:
            detail = "%d of %d sent; %s" % (sent, count,
                                            "; ".join(errs[:3]))
        return LoadRun(secs, ok, detail)


def _noop(_):
    return None


LOADS = {
    SmtpSourceLoad.name: SmtpSourceLoad,
    StarttlsLoad.name: StarttlsLoad,
}


def measure(target, load, sessions, count, size, timeout, poll=0.05):
    """One row for one target. The e2e clock starts with the load and
    stops when COUNT new messages are in the target's Maildir."""
    base = maildir_count(target.maildir)
    t0 = time.monotonic()
    run = load.run(target.ports[load.listener], sessions, count, size)
    accept = run.seconds
    errors = [run.detail] if not run.ok else []
    end = t0 + accept + timeout
    delivered = maildir_count(target.maildir) - base
    while delivered < count and time.monotonic() < end:
        time.sleep(poll)
        delivered = maildir_count(target.maildir) - base
    e2e = time.monotonic() - t0 if delivered >= count else None
    if e2e is None:
        errors.append("only %d of %d messages in the Maildir after %.0fs" %
                      (delivered, count, accept + timeout))
    elif delivered > count:
        errors.append("%d messages in the Maildir, %d sent" %
                      (delivered, count))
    if e2e is not None:
        # fresh Maildir for the next row; on a timeout keep it, later
        # arrivals are then counted as deltas
        maildir_empty(target.maildir)
    return Row(target.name, sessions, count, accept, e2e, delivered, errors)
