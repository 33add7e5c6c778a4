"""
The driver of the POP3 dialogue files in dialogues/pop3/*.dlg (RFC 1939,
RFC 2449 CAPA, RFC 5034 AUTH). Every case gets an account of its own
(created with `facteurctl user add` before the dialogue), so cases sharing
an instance never see each other's mail.

Directives, one a line:

  # comment                  (ignored; the first ones say what is checked)
  ! config: name = value     instance setting (cases with the same
                             settings share an instance)
  ! mail: n                  deliver n test messages (pop3_helpers.message)
                             to the case's account before the dialogue
  C: text                    send text + CRLF
  L: text                    send text + bare LF (as netcat does)
  R: text                    send raw bytes; Python escapes (\\r \\n \\x00)
  P: expression              send the bytes of a Python expression
  S: pattern                 read ONE line, match the pattern
  S?: pattern                read one line; if it does not match, keep it
                             for the next directive (optional line)
  M: pattern                 read a multi-line response: its status line
                             must match pattern (and start with +OK), then
                             every line up to the lone "."
  E: pattern                 some data line of the last M: matches
  N: count                   the last M: had exactly count data lines
  X: why                     the server closes the connection (EOF)
  D: n                       after the dialogue the account's Maildir holds
                             n messages (checked after the session ended)

In C/L/R/P text, $USER is the case's address, $LOCAL its local part,
$PASS its password and $PLAIN the base64 of "\\0$USER\\0$PASS" (AUTH
PLAIN). Patterns: "*" any run of characters, "?" any one character.
"""

import codecs
import os
import re
import socket
import time

from facteur_instance import DOMAIN
from pop3_helpers import RawPOP3, add_user, auth_plain, deliver
from smtp_dialogue import SMTPClosed, glob_match

_serial = [0]


class Dialogue:
    def __init__(self, path):
        self.path = path
        self.config = {}
        self.mail = 0
        self.final = None
        self.steps = []
        with open(path, encoding="utf-8") as f:
            for n, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith("!"):
                    m = re.match(r"!\s*config:\s*([\w.]+)\s*=\s*(.*?)\s*$",
                                 line)
                    if m:
                        self.config[m.group(1)] = m.group(2)
                        continue
                    m = re.match(r"!\s*mail:\s*(\d+)\s*$", line)
                    if m:
                        self.mail = int(m.group(1))
                        continue
                    raise ValueError("%s:%d: bad '!' line" % (path, n))
                m = re.match(r"(S\?|[CLRPSMENXD]):( ?)(.*)$", line)
                if not m:
                    raise ValueError("%s:%d: unknown directive" % (path, n))
                kind, arg = m.group(1), m.group(3)
                if kind == "D":
                    self.final = int(arg)
                    continue
                self.steps.append((n, kind, arg))

    def _subst(self, text):
        for k, v in (("$USER", self.user), ("$LOCAL", self.local),
                     ("$PASS", self.password),
                     ("$PLAIN", auth_plain(self.user, self.password))):
            text = text.replace(k, v)
        return text

    def play(self, instance):
        _serial[0] += 1
        name = re.sub(r"[^a-z0-9]", "", os.path.basename(self.path)[:-4]
                      .lower())[:20]
        self.local = "dlg%d%s" % (_serial[0], name)
        self.user = "%s@%s" % (self.local, DOMAIN)
        self.password = "pw-%s-%d" % (name, os.getpid())
        add_user(instance, self.user, self.password)
        if self.mail:
            deliver(instance, self.local, self.mail)
        s = RawPOP3(instance.pop3_port)
        data = []
        try:
            for n, kind, arg in self.steps:
                where = "%s:%d" % (self.path, n)
                if kind in "CLRP":
                    arg = self._subst(arg)
                if kind == "C":
                    s.send(arg.encode("utf-8") + b"\r\n")
                elif kind == "L":
                    s.send(arg.encode("utf-8") + b"\n")
                elif kind == "R":
                    s.send(codecs.decode(arg.encode("latin-1"),
                                         "unicode_escape").encode("latin-1"))
                elif kind == "P":
                    s.send(eval(arg, {"__builtins__": {}}, {}))
                elif kind in ("S", "S?"):
                    got = self._read(s, where)
                    if not glob_match(arg, got):
                        if kind == "S?":
                            s.unread(got)
                            continue
                        self._fail(instance, s, where,
                                   "expected %r, got %r" % (arg, got))
                elif kind == "M":
                    got = self._read(s, where)
                    if not got.startswith("+OK") or \
                            not glob_match(arg, got):
                        self._fail(instance, s, where,
                                   "expected %r, got %r" % (arg, got))
                    try:
                        data = [x.decode("utf-8", errors="replace")
                                for x in s.multi()]
                    except (SMTPClosed, AssertionError, OSError) as e:
                        self._fail(instance, s, where,
                                   "multi-line response: %s" % e)
                    s.transcript += ["S: " + x for x in data] + ["S: ."]
                elif kind == "E":
                    if not any(glob_match(arg, x) for x in data):
                        self._fail(instance, s, where,
                                   "no line %r in %r" % (arg, data))
                elif kind == "N":
                    if len(data) != int(arg):
                        self._fail(instance, s, where,
                                   "%d data lines, expected %s: %r" %
                                   (len(data), arg, data))
                elif kind == "X":
                    if not s.at_eof():
                        self._fail(instance, s, where,
                                   "connection still open (%s)" % arg)
        finally:
            s.close()
        if self.final is not None:
            # the UPDATE state may finish just after the +OK of QUIT
            # (and a wrong deletion may come just after the close)
            deadline = time.time() + 5
            while True:
                got = len(instance.message_files(self.local))
                if got == self.final or time.time() > deadline:
                    break
                time.sleep(0.05)
            time.sleep(0.5)
            got = len(instance.message_files(self.local))
            if got != self.final:
                raise AssertionError(
                    "%s: the Maildir of %s holds %d messages after the "
                    "dialogue, expected %d\n%s" % (
                        self.path, self.user, got, self.final,
                        "\n".join(s.transcript)))

    def _read(self, s, where):
        try:
            got = s.line()
        except (SMTPClosed, TimeoutError, socket.timeout) as e:
            raise AssertionError("%s: %s\n%s" % (where, e,
                                                 "\n".join(s.transcript)))
        if got.endswith(" <bare LF!>"):
            raise AssertionError("%s: reply line ends in a bare LF, not "
                                 "CRLF: %r\n%s" % (where, got,
                                                    "\n".join(s.transcript)))
        return got

    @staticmethod
    def _fail(instance, s, where, why):
        raise AssertionError("%s: %s\n--- transcript ---\n%s\n%s" %
                             (where, why, "\n".join(s.transcript),
                              instance.log_tail(20)))
