#!/usr/bin/env python3
"""genflow.py: a Postfix + Dovecot log of a mail flow with known distributions, for `sgcluster tune`.

Usage: genflow.py [--seed S] [--hours H] [--users N] [--domains D] [--msgs K] [--rcpt R] [--stale N]
                  [--stale-gap S] [--guessers N] [--guess-min A] [--guess-max B] [--compromised N]
                  [--mtas M] [--mta-msgs J] [--flooders N] [--flood F] [--truth FILE]

Lines are written with tests/tools/genlog.py's session emitters (the daemons' own formats), in time
order. Who is in it, and the bounds that hold by construction:
  users        N customers (user I is userI@dI%D.example, D sender domains), each with a home address;
               every clock hour each sends a number of messages drawn uniformly from 0..K, each to
               1..R recipients and of 600..SIZE_MAX bytes (so at most K messages, K*R recipients and
               K*SIZE_MAX bytes in any hour, from its own envelope sender), and logs in over IMAP
               from home a few times
  stale        N of the users whose phone fails one login every --stale-gap seconds from home (at
               most ceil(600/gap) failures in 10 minutes), all log long; those addresses also succeed
  guessers     N addresses that never succeed, each failing between A and B times within 4 minutes
               (1-3 attempts per session, the users tried drawn from the customers)
  compromised  N accounts used by 30 bot addresses each within 2 minutes, 40-60 recipients per message,
               SIZE_MAX..2*SIZE_MAX bytes each, from the account's envelope sender
  mtas         M remote servers, each in a /24 of its own, delivering 0..J messages every clock hour
               on port 25 (postfix/smtpd, no SASL), from news@ their name
  flooders     N port-25 clients, each in a /24 of its own, delivering F messages within 10 minutes
--truth FILE gets the parameters ("param NAME VALUE") and one line per subject:
  stale IP USER | guesser IP ATTEMPTS | compromised USER | mta IP | flooder IP
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genlog  # noqa: E402  (the session emitters and the timeline)

SIZE_MAX = 400000   # genlog.submission's largest message (600..400000 bytes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=float, default=1795838400.0)   # 2026-11-28 00:00 UTC
    ap.add_argument("--hours", type=int, default=6)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--msgs", type=int, default=4, help="K: messages per user and hour are uniform in 0..K")
    ap.add_argument("--rcpt", type=int, default=5, help="R: recipients per message are uniform in 1..R")
    ap.add_argument("--stale", type=int, default=20)
    ap.add_argument("--stale-gap", type=int, default=120)
    ap.add_argument("--guessers", type=int, default=40)
    ap.add_argument("--guess-min", type=int, default=25)
    ap.add_argument("--guess-max", type=int, default=40)
    ap.add_argument("--compromised", type=int, default=2)
    ap.add_argument("--domains", type=int, default=20)
    ap.add_argument("--mtas", type=int, default=0)
    ap.add_argument("--mta-msgs", type=int, default=6, help="J: messages per remote server and hour are uniform in 0..J")
    ap.add_argument("--flooders", type=int, default=0)
    ap.add_argument("--flood", type=int, default=200)
    ap.add_argument("--truth")
    a = ap.parse_args()
    r = random.Random(a.seed)
    span = a.hours * 3600.0
    tl = genlog.Timeline(sys.stdout, "iso", "mx1", a.start, 1 << 62)
    seen, nets = set(), set()

    def fresh_ip():
        while True:
            ip = genlog.rand_ip4(r)
            if ip not in seen:
                seen.add(ip)
                return ip

    def fresh_net_ip():
        """An address in a /24 no other such address is in (port-25 clients: a prefix is one client)."""
        while True:
            ip = fresh_ip()
            net = ip.rsplit(".", 1)[0]
            if net not in nets:
                nets.add(net)
                return ip

    users = [genlog.Customer("user%d@d%d.example" % (i, i % a.domains), fresh_ip(), "imap") for i in range(a.users)]
    for c in users:
        for h in range(a.hours):
            base = a.start + h * 3600
            for _ in range(r.randint(0, a.msgs)):
                genlog.submission(tl, r, base + r.uniform(0, 3590), c.user, c.ip, r.randint(1, a.rcpt))
            if r.random() < 0.5:
                genlog.mailbox_login(tl, r, base + r.uniform(0, 3500), c)
    stale = r.sample(users, a.stale)
    for c in stale:
        genlog.mailbox_login(tl, r, a.start + r.uniform(0, 5), c)
        t = a.start + 10 + r.uniform(0, a.stale_gap)
        while t < a.start + span - 60:
            genlog.dovecot_failures(tl, t, c.proto, c.user, c.ip, c.lip, 1)
            t += a.stale_gap
    guessers = []
    for _ in range(a.guessers):
        ip, n = fresh_ip(), r.randint(a.guess_min, a.guess_max)
        t, left = a.start + r.uniform(600, span - 900), n
        step = 240.0 / n
        while left > 0:
            k = min(left, r.randint(1, 3))
            genlog.dovecot_failures(tl, t, "imap", r.choice(users).user, ip, genlog.LOCAL_IP4, k)
            left -= k
            t += step * k
        guessers.append((ip, n))
    compromised = r.sample([c for c in users if c not in stale], a.compromised)
    for c in compromised:
        t0 = a.start + r.uniform(900, span - 900)
        for k in range(30):
            genlog.submission(tl, r, t0 + k * 4.0, c.user, fresh_ip(), r.randint(40, 60), r.randint(SIZE_MAX, 2 * SIZE_MAX))
    mtas = [fresh_net_ip() for _ in range(a.mtas)]
    for k, ip in enumerate(mtas):
        for h in range(a.hours):
            for _ in range(r.randint(0, a.mta_msgs)):
                genlog.smtp_inbound(tl, r, a.start + h * 3600 + r.uniform(0, 3590), "mx%d.remote.example" % k, ip,
                                    [r.choice(users).user])
    flooders = [fresh_net_ip() for _ in range(a.flooders)]
    for k, ip in enumerate(flooders):
        t0 = a.start + r.uniform(900, span - 900)
        for i in range(a.flood):
            genlog.smtp_inbound(tl, r, t0 + i * 600.0 / a.flood, "flood%d.example" % k, ip, [r.choice(users).user])
    tl.flush(float("inf"))
    if a.truth:
        with open(a.truth, "w") as f:
            for k, v in sorted(vars(a).items()):
                f.write("param %s %s\n" % (k, v))
            for c in stale:
                f.write("stale %s %s\n" % (c.ip, c.user))
            for ip, n in guessers:
                f.write("guesser %s %d\n" % (ip, n))
            for c in compromised:
                f.write("compromised %s\n" % c.user)
            for ip in mtas:
                f.write("mta %s\n" % ip)
            for ip in flooders:
                f.write("flooder %s\n" % ip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
