#!/usr/bin/env python3
"""genlog.py: a deterministic Postfix + Dovecot syslog stream of one mail node, with known attackers.

Usage: genlog.py [--lines N] [--seed S] [--truth FILE] [--format bsd|iso] [--host NAME]
                 [--start EPOCH] [--rate LINES_PER_S] [--attackers N]

Writes N log lines to stdout, in time order, shaped like the lines real Dovecot 2.3 (syslog, sql passdb
through auth-worker, auth_verbose=yes) and Postfix 3.7 write (tests/corpus/recorded-*.jsonl are the
model). The same seed gives the same bytes.

Who is in the log (populations):
  customers       mailboxes of the ISP; each has a home address in one of the ISP's pools (IPv4 or
                  IPv6) and reads mail over IMAP or POP3 and sends over submission (SMTP AUTH)
  remote MTAs     other domains' servers delivering inbound mail on port 25
  attackers       password guessers over SMTP AUTH, IMAP or POP3, and relay probers on port 25; each
                  runs one campaign of sessions, enough attempts to cross the shipped thresholds
  typos           customers who get their password wrong once, then right, from the same address
  stale phones    customers whose phone still has an old password: one failed login every 1.5-3
                  minutes from the home address, all log long
  compromised     one account per 300k lines (at least one) whose password is used by a botnet: many
                  submissions from many addresses within minutes

--truth FILE gets one line per known subject (whitespace separated):
  attacker IP KIND      KIND: smtp-auth, imap-auth, pop3-auth, relay; ATTEMPTS failed attempts follow
                        as a fourth field (AUTH, LOGIN/USER-PASS or RCPT commands)
  typo IP USER          one failed login of a legitimate customer, then a good one
  stale IP USER         a customer's phone with an old password, failing now and then
  account USER IP       a compromised account and one of the addresses that used it
Every other address in the log is benign and never fails a login.

Structure: populations are built first (Population), then a Timeline interleaves session emitters
(one function per kind of session, each writing the lines of one SMTP or IMAP/POP3 session with its
own small delays) in time order. Growing it into an ISP traffic simulator (customers behind NAT and
CGNAT pools, phones with stale passwords, address churn) means adding populations and emitters.
"""
import argparse
import base64
import heapq
import random
import struct
import sys
import time

DOMAIN = "isp.example"
LOCAL_IP4 = "203.0.113.10"
LOCAL_IP6 = "2001:db8:ffff::10"


def rand_ip4(r, avoid=()):
    while True:
        a = r.randint(1, 223)
        if a in (10, 100, 127, 169, 172, 192, 198, 203) or a in avoid:
            continue
        return "%d.%d.%d.%d" % (a, r.randint(0, 255), r.randint(0, 255), r.randint(1, 254))


def rand_ip6(r):
    return "2001:db8:%x:%x::%x" % (r.randint(0x100, 0xffff), r.randint(0, 0xffff), r.randint(1, 0xffff))


class Customer:
    __slots__ = ("user", "ip", "proto", "lip")

    def __init__(self, user, ip, proto):
        self.user, self.ip, self.proto = user, ip, proto
        self.lip = LOCAL_IP6 if ":" in ip else LOCAL_IP4


class Attacker:
    __slots__ = ("ip", "kind", "attempts", "targets")

    def __init__(self, ip, kind, attempts, targets):
        self.ip, self.kind, self.attempts, self.targets = ip, kind, attempts, targets


class Population:
    """Everyone who shows up in the log; built from the seed alone."""

    def __init__(self, r, n_lines, n_attackers):
        # The ISP's customer pools: a handful of /16s, customers spread over them (a /24 holds few).
        pools = sorted({rand_ip4(r).rsplit(".", 2)[0] for _ in range(12)})
        n_cust = max(500, min(20000, n_lines // 50))
        self.customers = []
        names = ["anna", "ben", "chen", "dora", "emil", "fay", "gus", "hana", "ivan", "jo", "kai", "lea"]
        seen = set()
        for i in range(n_cust):
            user = "%s.%s%d@%s" % (names[i % len(names)], names[(i // 12) % len(names)], i, DOMAIN)
            while True:
                ip = (rand_ip6(r) if r.random() < 0.1 else
                      "%s.%d.%d" % (r.choice(pools), r.randint(0, 255), r.randint(1, 254)))
                if ip not in seen:
                    break
            seen.add(ip)
            self.customers.append(Customer(user, ip, "imap" if r.random() < 0.7 else "pop3"))
        self.mtas = []
        for _ in range(max(300, n_lines // 300)):
            ip = rand_ip4(r)
            if ip not in seen:
                seen.add(ip)
                self.mtas.append((r.choice(["mail", "mx", "smtp", "out"]) + "%d.%s.example" % (r.randint(1, 99), r.choice(["corp", "shop", "news", "uni", "bank"])), ip))
        self.attackers = []
        kinds = ["smtp-auth", "imap-auth", "pop3-auth", "relay"]
        for i in range(n_attackers):
            while True:
                ip = rand_ip6(r) if i % 10 == 9 else rand_ip4(r)
                if ip not in seen:
                    break
            seen.add(ip)
            kind = kinds[i % 4]
            attempts = r.randint(12, 40) if kind != "relay" else r.randint(6, 20)
            targets = [c.user for c in r.sample(self.customers, 3)] + ["admin", "info@" + DOMAIN, "test"]
            self.attackers.append(Attacker(ip, kind, attempts, targets))
        # Typos and stale phones: customers from distinct /24 (or /64) prefixes, so that no prefix
        # collects several failing addresses.
        self.typos, self.stale = [], []
        prefixes = set()
        n_typo, n_stale = max(3, n_lines // 20000), max(2, n_lines // 50000)
        for c in r.sample(self.customers, min(len(self.customers), n_typo + n_stale)):
            p = c.ip.rsplit(".", 1)[0] if ":" not in c.ip else c.ip.rsplit(":", 2)[0]
            if p not in prefixes:
                prefixes.add(p)
                (self.typos if len(self.typos) < n_typo else self.stale).append(c)
        n_acc = max(1, n_lines // 300000)
        accounts = r.sample([c for c in self.customers if c not in self.typos and c not in self.stale], n_acc)
        self.compromised = []
        for c in accounts:
            bots = []
            while len(bots) < 30:
                ip = rand_ip4(r)
                if ip not in seen:
                    seen.add(ip)
                    bots.append(ip)
            self.compromised.append((c.user, bots))


class Timeline:
    """Lines of many sessions, merged in time order and written with a syslog header."""

    def __init__(self, out, fmt, host, start, limit):
        self.out, self.fmt, self.host, self.limit = out, fmt, host, limit
        self.heap, self.seq, self.written = [], 0, 0
        self.start = start
        self._sec, self._stamp = None, ""
        self.pid = 2000
        self.qid = 0x1A2B3C4D5E
        self.sid = 7 << 40

    def add(self, t, prog, msg):
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, prog, msg))

    def flush(self, until):
        """Writes every line earlier than until (no session yet to start can write before it)."""
        h, out = self.heap, self.out
        while h and h[0][0] < until and self.written < self.limit:
            t, _, prog, msg = heapq.heappop(h)
            out.write("%s %s %s: %s\n" % (self.stamp(t), self.host, prog, msg))
            self.written += 1
        return self.written < self.limit

    def stamp(self, t):
        s = int(t)
        if s != self._sec:
            self._sec = s
            g = time.gmtime(s)
            if self.fmt == "iso":
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", g)
            else:
                self._stamp = "%s %2d %s" % (time.strftime("%b", g), g.tm_mday, time.strftime("%H:%M:%S", g))
        if self.fmt == "iso":
            return "%s.%06d+00:00" % (self._stamp, int((t - s) * 1e6))
        return self._stamp

    # Identifiers the daemons make up.
    def next_pid(self):
        self.pid = self.pid + 1 if self.pid < 65000 else 2000
        return self.pid

    def next_qid(self):
        self.qid += 0x1F3B
        return "%X" % self.qid

    def next_session(self):
        self.sid += 0x9E3779B1
        return base64.b64encode(struct.pack(">Q", self.sid)[2:] + b"\x0a\x4d\x00\x01\x00\x00").decode()


# ---- session emitters: each writes one session's lines from time t --------------------------------------------

def client_name(ip):
    return "unknown[%s]" % ip


def smtp_inbound(tl, r, t, mta_name, mta_ip, rcpt_users):
    pid, qid = tl.next_pid(), tl.next_qid()
    prog = "postfix/smtpd[%d]" % pid
    name = "%s[%s]" % (mta_name, mta_ip)
    tl.add(t, prog, "connect from " + name)
    tl.add(t + 0.05, prog, "%s: client=%s" % (qid, name))
    tl.add(t + 0.09, "postfix/cleanup[%d]" % (pid + 1), "%s: message-id=<%x.%d@%s>" % (qid, tl.qid, pid, mta_name))
    size = r.randint(900, 90000)
    tl.add(t + 0.10, "postfix/qmgr[900]", "%s: from=<news@%s>, size=%d, nrcpt=%d (queue active)" % (qid, mta_name, size, len(rcpt_users)))
    tl.add(t + 0.12, prog, "disconnect from %s ehlo=1 mail=1 rcpt=%d data=1 quit=1 commands=%d" % (name, len(rcpt_users), 4 + len(rcpt_users)))
    for k, u in enumerate(rcpt_users):
        d = 0.15 + 0.01 * k
        tl.add(t + d, "dovecot", "lmtp(%s)<%d><%s>: msgid=<%x.%d@%s>: saved mail to INBOX" % (u, pid + 2, tl.next_session(), tl.qid, pid, mta_name))
        tl.add(t + d + 0.005, "postfix/lmtp[%d]" % (pid + 3), "%s: to=<%s>, relay=mail.%s[private/dovecot-lmtp], delay=0.2, delays=0.1/0.01/0.03/0.06, dsn=2.0.0, status=sent (250 2.0.0 <%s> Saved)" % (qid, u, DOMAIN, u))
    tl.add(t + 0.2 + 0.01 * len(rcpt_users), "postfix/qmgr[900]", "%s: removed" % qid)


def submission(tl, r, t, user, ip, nrcpt, size=None):
    """An authenticated submission on 587: auth_ok for user, one sent with nrcpt (and size bytes, default
    600-400000) at qmgr."""
    pid, qid = tl.next_pid(), tl.next_qid()
    prog = "postfix/submission/smtpd[%d]" % pid
    name = client_name(ip)
    tl.add(t, prog, "connect from " + name)
    tl.add(t + 0.3, prog, "%s: client=%s, sasl_method=PLAIN, sasl_username=%s" % (qid, name, user))
    tl.add(t + 0.35, "postfix/cleanup[%d]" % (pid + 1), "%s: message-id=<%x@%s>" % (qid, tl.qid, DOMAIN))
    size = r.randint(600, 400000) if size is None else size
    tl.add(t + 0.36, "postfix/qmgr[900]", "%s: from=<%s>, size=%d, nrcpt=%d (queue active)" % (qid, user, size, nrcpt))
    tl.add(t + 0.4, prog, "disconnect from %s ehlo=2 starttls=1 auth=1 mail=1 rcpt=%d data=1 quit=1 commands=%d" % (name, nrcpt, 7 + nrcpt))
    for k in range(nrcpt):
        dom = "dest%d.example" % ((tl.qid + k) % 97)
        tl.add(t + 0.6 + 0.02 * k, "postfix/smtp[%d]" % (pid + 2), "%s: to=<rcpt%d@%s>, relay=mx.%s[198.51.100.%d]:25, delay=0.6, delays=0.3/0.01/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)" % (qid, k, dom, dom, 1 + (tl.qid + k) % 250))
    tl.add(t + 0.7 + 0.02 * nrcpt, "postfix/qmgr[900]", "%s: removed" % qid)


def mailbox_login(tl, r, t, c):
    """A customer's good IMAP or POP3 login and logout."""
    pid, sid = tl.next_pid(), tl.next_session()
    tl.add(t, "dovecot", "%s-login: Login: user=<%s>, method=PLAIN, rip=%s, lip=%s, mpid=%d, TLS, session=<%s>" % (c.proto, c.user, c.ip, c.lip, pid, sid))
    d = r.uniform(0.5, 30.0)
    if c.proto == "imap":
        tl.add(t + d, "dovecot", "imap(%s)<%d><%s>: Disconnected: Logged out in=%d out=%d deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0" % (c.user, pid, sid, r.randint(50, 900), r.randint(500, 90000)))
    else:
        n = r.randint(0, 5)
        tl.add(t + d, "dovecot", "pop3(%s)<%d><%s>: Disconnected: Logged out top=0/0, retr=%d/%d, del=%d/%d, size=%d" % (c.user, pid, sid, n, n * 4000, n, n, n * 4000))


def dovecot_failures(tl, t, proto, user, ip, lip, attempts, known=True):
    """attempts failed logins in one IMAP/POP3 session: one auth-worker line each, then the summary."""
    sid = tl.next_session()
    worker = "auth-worker(%d)" % (1000 + (tl.qid & 7))
    why = "Password mismatch" if known else "unknown user"
    for k in range(attempts):
        tl.add(t + 0.5 * k, "dovecot", "%s: sql(%s,%s,<%s>): %s" % (worker, user, ip, sid, why))
    end = t + 0.5 * attempts + 0.1
    how = "Connection closed" if attempts == 1 else "Aborted login by logging out"
    tl.add(end, "dovecot", "%s-login: Disconnected: %s (auth failed, %d attempts in %d secs): user=<%s>, method=PLAIN, rip=%s, lip=%s, TLS, session=<%s>" % (proto, how, attempts, int(end - t), user, ip, lip, sid))
    return end


def smtp_auth_failures(tl, t, user, ip, attempts):
    """attempts failed AUTH commands in one submission session (Dovecot's auth logs each first)."""
    pid = tl.next_pid()
    prog = "postfix/submission/smtpd[%d]" % pid
    name = client_name(ip)
    tl.add(t, prog, "connect from " + name)
    worker = "auth-worker(%d)" % (1000 + (tl.qid & 7))
    for k in range(attempts):
        tk = t + 0.2 + 0.6 * k
        tl.add(tk, "dovecot", "%s: sql(%s,%s): Password mismatch" % (worker, user, ip))
        tl.add(tk + 0.01, prog, "warning: %s: SASL LOGIN authentication failed: (reason unavailable), sasl_username=%s" % (name, user))
    tl.add(t + 0.3 + 0.6 * attempts, prog, "disconnect from %s ehlo=1 auth=0/%d quit=1 commands=2/%d" % (name, attempts, 2 + attempts))


def relay_probe(tl, t, ip, rcpts):
    pid = tl.next_pid()
    prog = "postfix/smtpd[%d]" % pid
    name = client_name(ip)
    tl.add(t, prog, "connect from " + name)
    for k in range(rcpts):
        to = "victim%d@target%d.example" % (k, k % 7)
        tl.add(t + 0.1 + 0.05 * k, prog, "NOQUEUE: reject: RCPT from %s: 554 5.7.1 <%s>: Relay access denied; from=<offer@promo.example> to=<%s> proto=ESMTP helo=<%s>" % (name, to, to, ip if ":" not in ip else "localhost"))
    tl.add(t + 0.2 + 0.05 * rcpts, prog, "disconnect from %s ehlo=1 mail=1 rcpt=0/%d quit=1 commands=3/%d" % (name, rcpts, 3 + rcpts))


# ---- the plan: campaigns and benign arrivals ---------------------------------------------------------------

def plan_attacks(r, pop, span, start):
    """(time, attacker, attempts, user) session starts of every campaign, all inside the first 60% of span
    (the rest of the log leaves room for --lines to end without cutting a campaign short)."""
    plans = []
    for a in pop.attackers:
        t = start + r.uniform(0, span * 0.4)
        left = a.attempts
        while left > 0:
            n = min(left, r.randint(1, 3) if a.kind != "relay" else r.randint(2, 5))
            left -= n
            plans.append((t, a, n, r.choice(a.targets)))
            t += r.uniform(0.2, max(0.3, span * 0.2 / a.attempts))
    return plans


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--truth")
    ap.add_argument("--format", default="bsd", choices=["bsd", "iso"])
    ap.add_argument("--host", default="mx1")
    ap.add_argument("--start", type=float, default=1795838400.0)   # 2026-11-28 00:00 UTC
    ap.add_argument("--rate", type=float, default=2000.0,
                    help="lines per second of log time (at most: a log lasts at least 60 s, so that campaigns fit)")
    ap.add_argument("--attackers", type=int, default=-1, help="default: one per 1500 lines, at least 4")
    a = ap.parse_args()
    r = random.Random(a.seed)
    n_att = a.attackers if a.attackers >= 0 else max(4, a.lines // 1500)
    pop = Population(r, a.lines, n_att)
    rate = min(a.rate, a.lines / 60.0)
    span = a.lines / rate
    tl = Timeline(sys.stdout, a.format, a.host, a.start, a.lines)

    attacks = plan_attacks(r, pop, span, a.start)
    for user, bots in pop.compromised:   # the botnet: 30 addresses, a few minutes, 20-60 recipients each
        t0 = a.start + r.uniform(span * 0.1, span * 0.4)
        for k, ip in enumerate(bots):
            attacks.append((t0 + k * min(4.0, span * 0.2 / len(bots)), "account", user, ip))
    typo_at = {id(c): a.start + r.uniform(0, span * 0.6) for c in pop.typos}
    for c in pop.typos:
        attacks.append((typo_at[id(c)], "typo", c))
    for c in pop.stale:   # below every threshold: at most 7 failures in 10 minutes
        ts = a.start + r.uniform(0, 20)
        while ts < a.start + span:
            attacks.append((ts, "stale", c))
            ts += r.uniform(90, 180)
    attacks.sort(key=lambda p: (p[0], str(p[1:])))
    emitted = {}

    # Benign arrivals: a session writes ~5.3 lines on average (logins 2, inbound ~7.8, submissions ~7.9).
    per_s = rate / 5.3
    t = a.start
    i = 0
    custs, mtas = pop.customers, pop.mtas
    while True:
        t += r.expovariate(per_s)
        while i < len(attacks) and attacks[i][0] <= t:
            p = attacks[i]
            i += 1
            if p[1] == "account":
                submission(tl, r, p[0], p[2], p[3], r.randint(20, 60))
            elif p[1] == "stale":
                c = p[2]
                dovecot_failures(tl, p[0], c.proto, c.user, c.ip, c.lip, 1)
            elif p[1] == "typo":
                c = p[2]
                end = dovecot_failures(tl, p[0], c.proto, c.user, c.ip, c.lip, 1)
                mailbox_login(tl, r, end + 4.0, c)
                emitted[c.ip] = 1
            else:
                at, n, user = p[1], p[2], p[3]
                if at.kind == "smtp-auth":
                    smtp_auth_failures(tl, p[0], user, at.ip, n)
                elif at.kind == "relay":
                    relay_probe(tl, p[0], at.ip, n)
                else:
                    dovecot_failures(tl, p[0], at.kind[:4], user, at.ip, LOCAL_IP6 if ":" in at.ip else LOCAL_IP4, n,
                                     known="@" in user)
                emitted[at.ip] = emitted.get(at.ip, 0) + n
        x = r.random()
        if x < 0.45:
            mailbox_login(tl, r, t, r.choice(custs))
        elif x < 0.85:
            name, ip = r.choice(mtas)
            smtp_inbound(tl, r, t, name, ip, [c.user for c in r.sample(custs, 1 if r.random() < 0.8 else 3)])
        else:
            c = r.choice(custs)
            submission(tl, r, t, c.user, c.ip, 1 if r.random() < 0.7 else r.randint(2, 5))
        if not tl.flush(t):
            break

    short = [at for at in pop.attackers if emitted.get(at.ip, 0) != at.attempts]
    if short:
        print("genlog: %d attacker campaigns cut short by --lines (first %s): give more --lines or fewer --attackers"
              % (len(short), short[0].ip), file=sys.stderr)
        return 1
    if a.truth:
        with open(a.truth, "w") as f:
            for at in pop.attackers:
                f.write("attacker %s %s %d\n" % (at.ip, at.kind, at.attempts))
            for c in pop.typos:
                f.write("typo %s %s\n" % (c.ip, c.user))
            for c in pop.stale:
                f.write("stale %s %s\n" % (c.ip, c.user))
            for user, bots in pop.compromised:
                for ip in bots:
                    f.write("account %s %s\n" % (user, ip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
