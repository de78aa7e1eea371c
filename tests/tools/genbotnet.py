#!/usr/bin/env python3
"""genbotnet.py: the Dovecot and Postfix logs of N mail nodes under one password-guessing botnet.

Usage: genbotnet.py --attackers N --dir DIR [--nodes K] [--seed S] [--start EPOCH] [--span SECONDS]

Writes DIR/nodeI.dovecot and DIR/nodeI.postfix (I = 1..K) and DIR/attackers (every attacker address,
sorted, one a line). Lines are made by tests/tools/genlog.py's session emitters (the daemons' own
formats: Dovecot 2.3 auth-worker and login lines, Postfix 3.7 submission smtpd with Dovecot SASL).

Attacker i fails one login on every node, each node through another protocol: node (i mod K) + 1
over IMAP, the next over POP3, the next over SMTP AUTH (then IMAP again for K > 3). So no node
sees more than one failure of an address: only the cluster, counting together, sees K. The targets
are user names no customer logs in as (no account-attack evidence), and each attacker has a /24 of
its own (no prefix scenario fires): every address is banned alone, by auth-ip on the merged counts.
Addresses are a.b.c.d with a in 11..(11 + N / 65536), b.c the attacker's /24, d in 1..254: outside
the test networks (10.77.0.0/24) and the documentation ranges. The same arguments give the same bytes.
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genlog  # noqa: E402  (the session emitters)

TARGETS = ["admin", "info", "test", "sales", "support", "office", "postmaster", "webmaster", "contact", "user"]


class StreamTimeline(genlog.Timeline):
    """A Timeline that writes each line at once, to the Dovecot or the Postfix log by its program: an
    emitter's lines come in time order, and sessions are emitted in time order here."""

    def __init__(self, dovecot, postfix, host, start):
        super().__init__(None, "bsd", host, start, 1 << 62)
        self.files = (dovecot, postfix)

    def add(self, t, prog, msg):
        out = self.files[prog.startswith("postfix")]
        out.write("%s %s %s: %s\n" % (self.stamp(t), self.host, prog, msg))
        self.written += 1


def attacker_ip(i, d):
    return "%d.%d.%d.%d" % (11 + (i >> 16), (i >> 8) & 255, i & 255, d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attackers", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=float, default=1795838400.0)
    ap.add_argument("--span", type=float, default=300.0, help="seconds of log time the attack lasts")
    a = ap.parse_args()
    if not 1 <= a.attackers <= 4000000 or not 1 <= a.nodes <= 49:
        print("genbotnet: 1..4000000 attackers, 1..49 nodes", file=sys.stderr)
        return 2
    r = random.Random(a.seed)
    # Each attacker gets its own /24, in a shuffled order (a botnet's addresses come in no order).
    order = list(range(a.attackers))
    r.shuffle(order)
    ips = [attacker_ip(i, 1 + r.randrange(254)) for i in order]
    tls = []
    for k in range(a.nodes):
        dov = open(os.path.join(a.dir, "node%d.dovecot" % (k + 1)), "w", buffering=1 << 20)
        pfx = open(os.path.join(a.dir, "node%d.postfix" % (k + 1)), "w", buffering=1 << 20)
        tls.append(StreamTimeline(dov, pfx, "mx%d" % (k + 1), a.start))
    step = a.span / len(ips)
    lip = genlog.LOCAL_IP4
    protos = ("imap", "pop3", "smtp")
    for i, ip in enumerate(ips):
        t = a.start + i * step
        user = TARGETS[i % len(TARGETS)]
        for k in range(a.nodes):
            tl = tls[(i + k) % a.nodes]
            p = protos[k % 3]
            if p == "smtp":
                genlog.smtp_auth_failures(tl, t, user, ip, 1)
            else:
                genlog.dovecot_failures(tl, t, p, user, ip, lip, 1, known=False)
    for tl in tls:
        for f in tl.files:
            f.close()
    with open(os.path.join(a.dir, "attackers"), "w") as f:
        f.write("".join(ip + "\n" for ip in sorted(ips)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
