"""
A raw SMTP client for tests that must control every byte, and the driver
of the dialogue files in dialogues/smtp/*.dlg.

Dialogue file format, one directive a line:

  # comment                  (ignored; the first ones say what is checked)
  ! config: name = value     instance setting for this case (before the
                             dialogue; a case with settings gets its own
                             instance)
  C: text                    send text + CRLF
  L: text                    send text + bare LF (as netcat does)
  R: text                    send raw bytes; Python escapes (\\r \\n \\x00)
  P: expression              send the bytes of a Python expression, e.g.
                             P: b"NOOP " + b"x" * 600 + b"\\r\\n"
  S: pattern                 read ONE reply line, match the pattern
  S?: pattern                read one line; if it does not match, keep it
                             for the next S:/S?:/M: (optional line)
  M: pattern                 read one whole reply (all its "NNN-" lines up
                             to the "NNN " line) and match its last line
  E: pattern                 some line of the last M: reply matches (its
                             text after "NNN-"/"NNN "), e.g. E: PIPELINING
  X: why                     the server closes the connection (EOF)
  D: user n                  after the dialogue, user's Maildir holds n
                             more messages than before it (checked after
                             the session; 0 is waited for 2 s)

Patterns: "*" matches any run of characters, "?" any one character;
everything else is literal (so "[127.0.0.1]" means itself).
"""

import codecs
import re
import socket
import time

REPLY_TIMEOUT = 10.0


def glob_re(pattern):
    out = ""
    for ch in pattern:
        if ch == "*":
            out += ".*"
        elif ch == "?":
            out += "."
        else:
            out += re.escape(ch)
    return re.compile(out + r"\Z", re.S)


def glob_match(pattern, text):
    return glob_re(pattern).match(text) is not None


class SMTPClosed(Exception):
    pass


class RawSMTP:
    """Bytes in, lines out. Lines are returned without their CRLF."""

    def __init__(self, port, host="127.0.0.1", timeout=REPLY_TIMEOUT,
                 source=None, unix=None):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(unix)
        else:
            self.sock = socket.create_connection((host, port),
                                                 timeout=timeout,
                                                 source_address=source)
        self.buf = b""
        self.pushed = []
        self.transcript = []
        self.timeout = timeout

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.transcript.append("C: %r" % data)
        try:
            self.sock.sendall(data)
        except OSError as e:
            # the server may have closed: what it said is read next
            self.transcript.append("(send failed: %s)" % e)

    def cmd(self, line):
        self.send(line + "\r\n")

    def line(self):
        """Next reply line (str), or raises SMTPClosed at EOF."""
        if self.pushed:
            return self.pushed.pop()
        deadline = time.time() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no reply line within %ss" %
                                   self.timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if self.buf:
                    rest, self.buf = self.buf, b""
                    raise SMTPClosed("EOF after partial line %r" % rest)
                raise SMTPClosed("connection closed")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        text = raw.decode("utf-8", errors="replace")
        if text.endswith("\r"):
            text = text[:-1]
        else:
            text += " <bare LF!>"
        self.transcript.append("S: " + text)
        return text

    def unread(self, text):
        self.pushed.append(text)

    def reply(self):
        """One whole reply: list of its lines."""
        lines = [self.line()]
        while len(lines[-1]) >= 4 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def code(self):
        r = self.reply()
        return int(r[-1][:3]), r

    def at_eof(self, timeout=5.0):
        """True if the server closes the connection (after any data)."""
        self.timeout = timeout
        try:
            while True:
                self.line()
        except SMTPClosed:
            return True
        except (TimeoutError, socket.timeout):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Dialogue:
    def __init__(self, path):
        self.path = path
        self.config = {}
        self.steps = []         # (lineno, kind, arg)
        self.deliveries = {}    # user -> n
        with open(path, encoding="utf-8") as f:
            for n, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith("!"):
                    m = re.match(r"!\s*config:\s*([\w.]+)\s*=\s*(.*?)\s*$",
                                 line)
                    if not m:
                        raise ValueError("%s:%d: bad '!' line" % (path, n))
                    self.config[m.group(1)] = m.group(2)
                    continue
                m = re.match(r"(S\?|[CLRPSMEXD]):( ?)(.*)$", line)
                if not m:
                    raise ValueError("%s:%d: unknown directive" % (path, n))
                kind, arg = m.group(1), m.group(3)
                if kind == "D":
                    user, count = arg.split()
                    self.deliveries[user] = int(count)
                    continue
                self.steps.append((n, kind, arg))

    def play(self, instance, source=None):
        before = {u: len(instance.message_files(u))
                  for u in self.deliveries}
        s = RawSMTP(instance.port, source=source)
        last = []
        try:
            for n, kind, arg in self.steps:
                where = "%s:%d" % (self.path, n)
                if kind == "C":
                    s.send(arg.encode("utf-8") + b"\r\n")
                elif kind == "L":
                    s.send(arg.encode("utf-8") + b"\n")
                elif kind == "R":
                    s.send(codecs.decode(arg.encode("latin-1"),
                                         "unicode_escape").encode("latin-1"))
                elif kind == "P":
                    data = eval(arg, {"__builtins__": {}}, {})
                    s.send(data)
                elif kind in ("S", "S?"):
                    got = self._read(s, where)
                    if not glob_match(arg, got):
                        if kind == "S?":
                            s.unread(got)
                            continue
                        self._fail(instance, s, where,
                                   "expected %r, got %r" % (arg, got))
                elif kind == "M":
                    first = self._read(s, where)
                    s.unread(first)
                    last = self._reply(s, where)
                    if not glob_match(arg, last[-1]):
                        self._fail(instance, s, where,
                                   "expected %r, got %r" % (arg, last))
                    if not all(x[:3] == last[-1][:3] for x in last):
                        self._fail(instance, s, where,
                                   "mixed codes in one reply %r" % last)
                elif kind == "E":
                    if not any(glob_match(arg, x[4:]) for x in last):
                        self._fail(instance, s, where,
                                   "no line %r in %r" % (arg, last))
                elif kind == "X":
                    if not s.at_eof():
                        self._fail(instance, s, where,
                                   "connection still open (%s)" % arg)
        finally:
            s.close()
        for user, count in self.deliveries.items():
            want = before[user] + count
            try:
                instance.wait_for_delivery(user, want, timeout=15,
                                           settle=0.5 if count else 2.0)
            except Exception as e:
                raise AssertionError("%s: deliveries to %s: %s" %
                                     (self.path, user, e))

    def _read(self, s, where):
        try:
            return s.line()
        except (SMTPClosed, TimeoutError, socket.timeout) as e:
            raise AssertionError("%s: %s\n%s" % (where, e,
                                                 "\n".join(s.transcript)))

    def _reply(self, s, where):
        try:
            return s.reply()
        except (SMTPClosed, TimeoutError, socket.timeout) as e:
            raise AssertionError("%s: %s\n%s" % (where, e,
                                                 "\n".join(s.transcript)))

    @staticmethod
    def _fail(instance, s, where, why):
        raise AssertionError("%s: %s\n--- transcript ---\n%s\n%s" %
                             (where, why, "\n".join(s.transcript),
                              instance.log_tail(20)))
