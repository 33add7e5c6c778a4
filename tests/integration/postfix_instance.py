"""
A private Postfix for the interoperability tests (TESTING.md "Peers in
tests"): its own main.cf/master.cf, queue and data directories in a temp
dir, smtpd on a free loopback port, every service unchrooted, no DNS,
nothing delivered locally: everything goes to a relayhost (facteur) over
STARTTLS (smtp_tls_security_level = encrypt). The package's own instance
(/etc/postfix) is never read, started or changed. Needs root. The same
recipe as bench/lib/facteurbench/postfix.py.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

POSTFIX = "/usr/sbin/postfix"

MASTER_CF = """\
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
# Private test instance (written by tests/integration/postfix_instance.py)
compatibility_level = 3.6
config_directory = {etc}
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.example.test
mydomain = example.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
relay_domains =
alias_maps =
alias_database =
biff = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
maillog_file = {log}
relayhost = [127.0.0.1]:{relay_port}
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 1
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postfix:
    def __init__(self, relay_port):
        self.dir = tempfile.mkdtemp(prefix="postfix-", dir="/var/tmp")
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postfix.log")
        self.port = free_port()
        self.relay_port = relay_port
        self.running = False

    def _postfix(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", self.etc] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("postfix %s: %s\n%s" % (
                " ".join(args), r.stdout.decode(errors="replace"),
                self.log_text()))
        return r

    def start(self):
        for d in (self.etc, self.queue):
            os.makedirs(d, mode=0o755, exist_ok=True)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(etc=self.etc, queue=self.queue,
                                   data=self.data, log=self.log,
                                   relay_port=self.relay_port))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen="127.0.0.1:%d" % self.port))
        self._postfix("check")
        self._postfix("set-permissions", check=False)
        self._postfix("start")
        self.running = True
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("postfix did not answer on port %d\n%s" %
                           (self.port, self.log_text()))

    def flush(self):
        self._postfix("flush", check=False)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if self.running:
            pid = self.master_pid()
            self._postfix("stop", check=False)
            self.running = False
            deadline = time.time() + 20
            while pid and time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        if not os.environ.get("FACTEUR_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
