"""A private Postfix instance for benchmarks: its own main.cf/master.cf,
queue and data directories in a temp dir, an smtpd on a free loopback port,
virtual(8) delivery into Maildirs under a temp mail base. The package's
system instance (/etc/postfix) is never read, started or changed."""

import os
import subprocess
import time

from .common import (BenchError, DOMAIN, mkdirs, free_port, wait_banner,
                     group_name, make_certificate)

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"

# Every service runs unchrooted (5th column n): the private queue directory
# has no copy of /etc files a chroot would need.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
# Private benchmark instance (written by bench/lib/facteurbench/postfix.py)
compatibility_level = 3.6
config_directory = {etc}
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.{domain}
mydomain = {domain}
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
maillog_file_prefixes = {top}
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{etc}/vmailbox
virtual_mailbox_base = {mail}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
"""


# STARTTLS variant: offered, not required, as facteur's smtp listener
MAIN_CF_TLS = """\
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
"""


def version():
    out = subprocess.run([POSTCONF, "-d", "mail_version"],
                         capture_output=True, text=True).stdout.strip()
    return out.split("=", 1)[-1].strip() or "unknown"


class Postfix:
    name = "postfix"

    def __init__(self, topdir, uid, gid, tls=False):
        self.topdir = topdir
        self.tls = tls
        self.dir = os.path.join(topdir, "postfix")
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.mail = os.path.join(self.dir, "mail")
        self.log = os.path.join(self.dir, "postfix.log")
        self.uid, self.gid = uid, gid
        self.port = free_port()
        self.ports = {"plain": self.port}
        self.maildir = os.path.join(self.mail, DOMAIN, "alice")
        self.running = False

    def _postfix(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", self.etc] + list(args),
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise BenchError("postfix -c %s %s failed (%d): %s%s "
                             "(postfix logs to stderr only on a tty; see "
                             "also %s)" %
                             (self.etc, " ".join(args), r.returncode,
                              r.stdout, r.stderr, self.log))
        return r

    def setup(self):
        mkdirs(self.dir, ["", "etc", "queue"])
        mkdirs(self.dir, ["mail"], self.uid, self.gid, 0o750)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(etc=self.etc, queue=self.queue,
                                   data=self.data, domain=DOMAIN,
                                   log=self.log, top=self.dir, mail=self.mail,
                                   uid=self.uid, gid=self.gid))
            if self.tls:
                cert, key = make_certificate(self.topdir)
                f.write(MAIN_CF_TLS.format(cert=cert, key=key))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen="127.0.0.1:%d" % self.port))
        with open(os.path.join(self.etc, "vmailbox"), "w") as f:
            f.write("alice@%s %s/alice/\n" % (DOMAIN, DOMAIN))
        # As root, "postfix check" creates the queue and data directories
        # with the right owners (postfix, postdrop) and modes.
        self._postfix("check")
        self._postfix("set-permissions", check=False)

    def start(self):
        self._postfix("start")
        self.running = True
        wait_banner(self.port)

    def _master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        """postfix stop returns before master(8) is gone; wait for it so
        the next run starts from a quiet machine."""
        if not self.running:
            return
        pid = self._master_pid()
        self._postfix("stop", check=False)
        self.running = False
        if pid is not None:
            end = time.monotonic() + 20
            while time.monotonic() < end:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)

    def flush(self):
        """Asks qmgr to retry the deferred queue (nothing should be there)."""
        self._postfix("flush", check=False)

    def describe(self):
        return "Postfix %s (private instance, virtual(8) Maildir, uid %d, " \
               "group %s)" % (version(), self.uid, group_name(self.gid))
