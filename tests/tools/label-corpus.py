#!/usr/bin/env python3
"""label-corpus.py: labels the Dovecot and Postfix log lines record-corpus.sh recorded, one JSON record a line.

Usage: label-corpus.py --manifest SESSIONS.tsv [--dovecot-version V] [--postfix-version V]
                       FAMILY:LOGFILE:OUT.jsonl ...

Each session of the manifest ("name node source-address user") came from an address of its own, so
a line naming an address belongs to that session; Postfix's queue lines belong to the session whose
smtpd line gave their queue id. A line's label comes from what the daemon says in it (the message
classes below, read from Dovecot's and Postfix's logs), and is checked against what its session did:
a line labelled abuse must come from a session that misbehaved, every misbehaving session must have
at least one such line, and every session must appear in the log. Labels (see tests/corpus/README.md):
  match   true: evidence of abuse against ip (and user); false: must not count as abuse
  kind    the event the line must give (auth_fail, relay_denied, rejected, auth_ok, conn, sent)
          or null: no event at all
  dup     true: the same attempt was already reported by an earlier line (counted once)
  count   attempts the line stands for (Dovecot "N attempts"); nrcpt: recipients of a sent message
"""
import argparse
import json
import re
import sys

# Sessions that misbehave: at least one of their lines is abuse. All others are benign.
BAD = {"imap-bad", "imap-unknown", "imap-attempts", "pop3-bad", "pop3-unknown", "pop3-attempts", "imap-typo",
       "smtp-auth-bad", "smtp-auth-unknown", "relay", "rcpt-unknown", "vrfy", "lost-connect", "non-smtp",
       "early-drop", "pipelining", "auth-on-25", "submit-noauth"}

ADDR = re.compile(r"\brip=([0-9a-fA-F:.]+)|passwd-file\([^,()]*,([0-9a-fA-F:.]+)[,)]|\[((?:\d+\.){3}\d+|[0-9a-fA-F]*:[0-9a-fA-F:.]*)\]")


def rec(line, family, match, kind, ip="", user="", **extra):
    r = {"line": line, "family": family, "match": match, "kind": kind, "ip": ip, "user": user}
    r.update(extra)
    return r


def label_dovecot(line, ip):
    """Dovecot 2.3: auth process lines and the login processes' one-line session summaries."""
    m = re.search(r"passwd-file\(([^,()]*),[^)]*\): (Password mismatch|unknown user)$", line)
    if m:
        return rec(line, "dovecot", True, "auth_fail", ip, m.group(1))
    m = re.search(r"-login: Info: Disconnected: .*\(auth failed, (\d+) attempts in \d+ secs\): user=<([^>]*)>", line)
    if m:   # the auth process reported each attempt first
        return rec(line, "dovecot", True, "auth_fail", ip, m.group(2), dup=True, count=int(m.group(1)))
    m = re.search(r"-login: Info: Login: user=<([^>]*)>", line)
    if m:
        return rec(line, "dovecot", False, "auth_ok", ip, m.group(1))
    if "(no auth attempts" in line:
        return rec(line, "dovecot", False, "conn", ip)
    return rec(line, "dovecot", False, None, ip)


def label_postfix(line, ip, qids, sasl_seen):
    m = re.search(r" [\w/.-]+\[\d+\]: (.*)$", line)
    msg = m.group(1) if m else ""
    if msg.startswith("connect from "):
        return rec(line, "postfix", False, "conn", ip)
    m = re.match(r"warning: [^\[]*\[[^\]]+\]: SASL \S+ authentication failed: .*, sasl_username=(\S+)$", msg)
    if m:
        sasl_seen.add(ip)
        return rec(line, "postfix", True, "auth_fail", ip, m.group(1))
    m = re.match(r"disconnect from .* auth=0/(\d+)", msg)
    if m:   # the summary repeats the SASL warnings, when there were any (AUTH on 25 gets none)
        return rec(line, "postfix", True, "auth_fail", ip, "", dup=ip in sasl_seen,
                   count=int(m.group(1)))
    if msg.startswith("disconnect from "):
        return rec(line, "postfix", False, None, ip)
    m = re.match(r"(\w+): client=[^,]*, sasl_method=\S+, sasl_username=(\S+)$", msg)
    if m:
        qids[m.group(1)] = (ip, m.group(2))
        return rec(line, "postfix", False, "auth_ok", ip, m.group(2))
    m = re.match(r"(\w+): client=", msg)
    if m:
        qids[m.group(1)] = (ip, None)
        return rec(line, "postfix", False, None, ip)
    m = re.match(r"(\w+): from=<[^>]*>, size=\d+, nrcpt=(\d+) \(queue active\)$", msg)
    if m and qids.get(m.group(1), (None, None))[1]:
        qip, user = qids[m.group(1)]
        return rec(line, "postfix", False, "sent", qip, user, nrcpt=int(m.group(2)))
    if re.match(r"NOQUEUE: reject: RCPT from .*: Relay access denied;", msg):
        return rec(line, "postfix", True, "relay_denied", ip)
    if re.match(r"NOQUEUE: reject: (RCPT|VRFY) from ", msg):
        return rec(line, "postfix", True, "rejected", ip)
    if (re.match(r"lost connection after (CONNECT|EHLO) from ", msg) or msg.startswith("warning: non-SMTP command from ")
            or msg.startswith("improper command pipelining after ")):
        return rec(line, "postfix", True, "rejected", ip)
    return rec(line, "postfix", False, None, "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--dovecot-version", default="")
    ap.add_argument("--postfix-version", default="")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    sessions = {}
    for ln in open(a.manifest):
        name, node, src, user = (ln.rstrip("\n").split("\t") + [""])[:4]
        sessions[src] = {"name": name, "node": node, "user": user}
    seen, abusive, problems = set(), set(), []
    for spec in a.files:
        family, log, out = spec.split(":", 2)
        daemon = "Dovecot %s" % a.dovecot_version if family == "dovecot" else "Postfix %s" % a.postfix_version
        qids, sasl_seen, recs = {}, set(), []
        for line in open(log, encoding="utf-8", errors="replace"):
            line = line.rstrip("\n")
            m = ADDR.search(line)
            ip = next((g for g in m.groups() if g), "") if m else ""
            r = label_dovecot(line, ip) if family == "dovecot" else label_postfix(line, ip, qids, sasl_seen)
            if r["ip"] and r["ip"] not in sessions:
                problems.append("line names an address of no session: " + line)
            name = sessions.get(r["ip"], {}).get("name", "")
            if r["match"] and r["user"] and r["user"] != sessions.get(r["ip"], {}).get("user"):
                problems.append("user %s is not the one session %s used: %s" % (r["user"], name, line))
            if r["ip"]:
                seen.add(r["ip"])
            if r["match"]:
                abusive.add(r["ip"])
                if name not in BAD:
                    problems.append("abuse line from benign session %s: %s" % (name, line))
            r["source"] = "recorded"
            r["daemon"] = daemon
            if name:
                r["session"] = name
            recs.append(r)
        with open(out, "w") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print("label-corpus: %s: %d lines, %d abuse" % (out, len(recs), sum(1 for r in recs if r["match"])))
    for src, s in sessions.items():
        if src not in seen:
            problems.append("session %s from %s left no line" % (s["name"], src))
        elif s["name"] in BAD and src not in abusive:
            problems.append("session %s from %s left no abuse line" % (s["name"], src))
    for p in problems:
        print("label-corpus: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
