"""
facteurctl as an administrator uses it: `facteurctl user add` hashes a
password read on stdin into the users file (crypt(3): yescrypt,
sha512-crypt or bcrypt), which the instance harness relies on.
"""

import re
import warnings

from facteur_instance import USERS, DOMAIN

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import crypt


def test_user_add_writes_verifiable_hashes(make_instance):
    inst = make_instance(start=False)
    inst._make_dirs()
    inst.write_config()
    inst.add_users()
    assert inst.user_add_error is None, \
        "facteurctl user add failed: %s" % inst.user_add_error
    entries = {}
    for line in inst.users_text().splitlines():
        if line.strip() and not line.startswith("#"):
            addr, _, h = line.partition(":")
            entries[addr] = h
    assert sorted(entries) == sorted("%s@%s" % (u, DOMAIN) for u in USERS)
    for user, pw in USERS.items():
        h = entries["%s@%s" % (user, DOMAIN)]
        assert re.match(r"\$(y|6|2b)\$", h), h
        assert crypt.crypt(pw, h) == h, "hash of %s does not verify" % user
        assert crypt.crypt(pw + "x", h) != h
