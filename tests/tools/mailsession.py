#!/usr/bin/env python3
"""mailsession.py: one scripted IMAP, POP3 or SMTP session, for dialogs curl and swaks do not make.

Usage: mailsession.py [--src ADDR] [--timeout S] KIND HOST ARGS...
  imap-logins HOST USER PASS N     N LOGIN attempts with PASS in one connection, then LOGOUT
  pop3-logins HOST USER PASS N     N USER/PASS attempts in one connection, then QUIT
  imap-noauth HOST                 read the greeting, LOGOUT without logging in
  smtp HOST PORT LINE...           read the greeting, send each LINE and read its reply, then close
  smtp-early HOST PORT LINE        send LINE before reading the greeting (pipelining / pregreet)
  smtp-pipe HOST PORT LINE...      read the greeting, send all LINEs in one write, read until closed
  tcp-close HOST PORT              connect and close at once
Exit 0 when the dialog ran to its end (whatever the server answered), 2 when it could not connect.
Used by tests/tools/record-corpus.sh inside the test namespaces; talks only to the address given.
"""
import argparse
import socket
import sys


def connect(host, port, src, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect((host, int(port)))
    return s


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("server closed")
            self.buf += data
        out, self.buf = self.buf.split(b"\n", 1)
        return out.decode(errors="replace").rstrip("\r")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def imap_reply(self, tag):
        while True:
            ln = self.line()
            if ln.startswith(tag + " "):
                return ln

    def smtp_reply(self):
        while True:
            ln = self.line()
            if len(ln) < 4 or ln[3] != "-":
                return ln


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("kind")
    ap.add_argument("host")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    port = {"imap-logins": 143, "imap-noauth": 143, "pop3-logins": 110}.get(a.kind)
    if port is None:
        port, args = a.args[0], a.args[1:]
    else:
        args = a.args
    try:
        s = connect(a.host, port, a.src, a.timeout)
    except OSError as e:
        print("no session: %s" % e, file=sys.stderr)
        return 2
    c = Conn(s)
    try:
        if a.kind == "tcp-close":
            pass
        elif a.kind == "smtp-early":
            c.send(args[0])
            print(c.smtp_reply())
        else:
            print(c.line())
            if a.kind == "imap-logins":
                user, pw, n = args[0], args[1], int(args[2])
                for i in range(n):
                    c.send('a%d LOGIN "%s" "%s"' % (i, user, pw))
                    print(c.imap_reply("a%d" % i))
                c.send("z LOGOUT")
                print(c.imap_reply("z"))
            elif a.kind == "imap-noauth":
                c.send("z LOGOUT")
                print(c.imap_reply("z"))
            elif a.kind == "pop3-logins":
                user, pw, n = args[0], args[1], int(args[2])
                for _ in range(n):
                    c.send("USER " + user)
                    print(c.line())
                    c.send("PASS " + pw)
                    print(c.line())
                c.send("QUIT")
                print(c.line())
            elif a.kind == "smtp":
                for ln in args:
                    c.send(ln)
                    print(c.smtp_reply())
            elif a.kind == "smtp-pipe":
                c.send("\r\n".join(args))
                for _ in range(len(args)):
                    print(c.smtp_reply())
            else:
                print("unknown kind %s" % a.kind, file=sys.stderr)
                return 2
    except (OSError, EOFError) as e:
        print("session ended: %s" % e)
    finally:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
