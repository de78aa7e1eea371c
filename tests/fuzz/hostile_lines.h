/* hostile_lines.h: real-format log lines of every shipped rule family with the fields an attacker
 * chooses left open, and the oracle shared by test_detect_hostile (generated values) and the libFuzzer
 * target fuzz_hostile_fields (fuzzed values): whatever the attacker writes into those fields, an event's
 * address is the client's own (the one the daemon wrote into its slot), or the line gives no event.
 *
 * The lines follow the daemons' format strings (OpenSSH auth.c/auth2.c/auth-pam.c, Dovecot
 * login-common/client-common.c and auth-request.c, Postfix smtpd.c/smtpd_sasl_glue.c, Exim's log
 * strings, Courier, Cyrus, sendmail, UW IMAP, solid-pop3d, perdition). In a template:
 *   %U  the attacker's field (user name, HELO, envelope sender or recipient, SASL name, client text),
 *       written raw: only a newline cannot occur in one line (it becomes a space). Daemons that escape
 *       or truncate do less than this, so the test asks more of the rules than the daemons do.
 *   %H  a reverse-DNS host name the attacker controls: the same value reduced to host-name characters
 *       (letters, digits, '.', '-'), as the daemons' resolvers accept nothing else.
 *   %R  the client's real address as the daemon writes it.
 * Included by exactly those two programs; everything here is static. */
#ifndef SG_TESTS_HOSTILE_LINES_H
#define SG_TESTS_HOSTILE_LINES_H

#include "detect/detect.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct hostile_tmpl {
    const char *family;
    const char *ctx;        /* a line fed first (same pid, queue id), or NULL; may hold %U/%H/%R */
    const char *line;
    const char *real;       /* %R as written */
    const char *want;       /* the canonical text of the real address */
};

#define HL_V4 "203.0.113.7"
#define HL_V6 "2001:db8:1::7"
#define HL_TS "Dec  6 12:00:00 mx "
#define HL_EXIM "2026-12-06 12:00:00 [4242] "

static const struct hostile_tmpl hostile_tmpls[] = {
    /* Postfix: the client is "name[ip]" right after fixed text; attacker fields all come after it. */
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: warning: %H[%R]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=%U", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/submission/smtpd[123]: warning: unknown[%R]: SASL PLAIN authentication failed: %U", HL_V6, HL_V6},
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[%R]: 554 5.7.1 <%U>: Relay access denied; from=<%U> to=<%U> proto=ESMTP helo=<%U>", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: NOQUEUE: reject: EHLO from %H[%R]: 504 5.5.2 <%U>: Helo command rejected: need fully-qualified hostname; proto=ESMTP helo=<%U>", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: warning: non-SMTP command from unknown[%R]: %U", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: improper command pipelining after EHLO from unknown[%R]: %U", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: connect from %H[%R]", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/postscreen[124]: PREGREET 11 after 0.05 from [%R]:4567: EHLO %U\\r\\n", HL_V4, HL_V4},
    {"postfix", HL_TS "postfix/submission/smtpd[123]: 4QzXyZ1abc: client=%H[%R], sasl_method=PLAIN, sasl_username=%U",
     HL_TS "postfix/qmgr[125]: 4QzXyZ1abc: from=<%U>, size=1234, nrcpt=2 (queue active)", "::ffff:" HL_V4, HL_V4},
    /* Dovecot login processes: "user=<%u>" (sanitised to 80 bytes, '>' and ',' kept) comes before rip=. */
    {"dovecot", NULL, HL_TS "dovecot[42]: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<%U>, method=PLAIN, rip=%R, lip=192.0.2.1, TLS, session=<AbCdEfGh12+/>", HL_V4, HL_V4},
    {"dovecot", NULL, HL_TS "dovecot[42]: imap-login: Login aborted: Connection closed (auth failed, 3 attempts in 16 secs) (auth_failed): user=<%U>, method=PLAIN, rip=%R, lip=192.0.2.1, TLS, session=<AbCdEfGh12+/>", HL_V6, HL_V6},
    {"dovecot", NULL, HL_TS "dovecot[42]: pop3-login: Aborted login (tried to use disallowed plaintext auth): user=<%U>, rip=%R, lip=192.0.2.1, session=<AbCdEfGh12+/>", HL_V4, HL_V4},
    {"dovecot", NULL, HL_TS "dovecot[42]: imap-login: Disconnected (proxy dest auth failed): user=<%U>, method=PLAIN, rip=%R, lip=192.0.2.1, session=<AbCdEfGh12+/>", HL_V4, HL_V4},
    {"dovecot", NULL, HL_TS "dovecot[42]: imap-login: Login: user=<%U>, method=PLAIN, rip=%R, lip=192.0.2.1, mpid=4242, TLS, session=<AbCdEfGh12+/>", HL_V4, HL_V4},
    /* Dovecot auth processes: "driver(%user,%ip[,master][,<session>]): message". */
    {"dovecot", NULL, HL_TS "dovecot[42]: auth: passwd-file(%U,%R,<AbCdEfGh12+/>): unknown user", HL_V4, HL_V4},
    {"dovecot", NULL, HL_TS "dovecot[42]: auth-worker(4242): pam(%U,%R,<AbCdEfGh12+/>): pam_authenticate() failed: Authentication failure (password mismatch?)", HL_V4, HL_V4},
    {"dovecot", NULL, HL_TS "dovecot[42]: auth-worker(4242): conn unix:auth-worker (pid=4000,uid=109): auth-worker<4>: sql(%U,%R): Password mismatch", HL_V6, HL_V6},
    {"dovecot", NULL, HL_TS "dovecot[42]: auth: ldap(%U,%R,<AbCdEfGh12+/>): Password mismatch (given password: %U)", HL_V4, HL_V4},
    {"dovecot", NULL, "Dec  6 12:00:00 auth(%U,%R,sasl:plain)<AbCdEfGh12+/>: Info: sql: Password mismatch (given password: %U)", HL_V4, HL_V4},
    {"dovecot", NULL, HL_TS "dovecot[42]: auth-worker(4242): pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=%U rhost=%R  user=%U", HL_V4, HL_V4},
    /* OpenSSH: user names are the client's (control bytes escaped, spaces kept, 100 bytes). */
    {"sshd", NULL, HL_TS "sshd[4242]: Failed password for invalid user %U from %R port 4242 ssh2", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: Failed password for %U from %R port 4242 ssh2", HL_V6, HL_V6},
    {"sshd", NULL, HL_TS "sshd[4242]: Failed keyboard-interactive/pam for invalid user %U from %R port 4242 ssh2", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: Failed publickey for invalid user %U from %R port 4242 ssh2: RSA SHA256:AbCdEf0123456789+/AbCdEf0123456789AbCdEf0", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: Failed hostbased for %U from %R port 4242 ssh2: RSA SHA256:AbCdEf0123456789, client user \"%U\", client host \"%H\"", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: Invalid user %U from %R port 4242", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: error: PAM: Authentication failure for illegal user %U from %R", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: User %U from %R not allowed because not listed in AllowUsers", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: error: maximum authentication attempts exceeded for invalid user %U from %R port 4242 ssh2 [preauth]", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: Connection closed by invalid user %U %R port 4242 [preauth]", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: Disconnected from authenticating user %U %R port 4242 [preauth]", HL_V6, HL_V6},
    {"sshd", NULL, HL_TS "sshd[4242]: Disconnecting invalid user %U %R port 4242: Change of username or service not allowed: (%U,ssh-connection) -> (%U,ssh-connection) [preauth]", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: Received disconnect from %R port 4242:3: %U: Auth fail [preauth]", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4242]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=%U rhost=%R  user=%U", HL_V4, HL_V4},
    {"sshd", HL_TS "sshd[4243]: Connection from %R port 4242 on 192.0.2.1 port 22",
     HL_TS "sshd[4243]: Disconnecting: Too many authentication failures for %U [preauth]", HL_V4, HL_V4},
    {"sshd", HL_TS "sshd[4244]: Failed password for %U from %R port 4242 ssh2",
     HL_TS "sshd[4244]: Accepted password for %U from %R port 4242 ssh2", HL_V4, HL_V4},
    /* Exim: "H=name (helo) [ip]:port"; the HELO comes before the address, senders and commands around it. */
    {"exim", NULL, HL_EXIM "dovecot_login authenticator failed for (%U) [%R]:4242 I=[192.0.2.1]:465 Ci=30416: 535 Incorrect authentication data (set_id=%U)", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "H=%H (%U) [%R]:4242 I=[192.0.2.1]:25 F=<%U> rejected RCPT <%U>: relay not permitted", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "H=(%U) [%R]:4242 F=<%U> rejected RCPT <%U>: Unrouteable address", HL_V6, HL_V6},
    {"exim", NULL, HL_EXIM "H=(%U) [%R]:4242 sender verify fail for <%U>: Unknown user", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "SMTP protocol error in \"%U\" H=(%U) [%R]:4242 I=[192.0.2.1]:25 AUTH command used when not advertised", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected \"%U\" H=(%U) [%R]:4242 I=[192.0.2.1]:25 next input=\"%U\"", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "SMTP call from (%U) [%R]:4242 I=[192.0.2.1]:25 dropped: too many syntax or protocol errors (last command was \"%U\")", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "no MAIL in SMTP connection from (%U) [%R]:4242 I=[192.0.2.1]:25 D=21s C=EHLO,%U", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "1ahrVl-0006mY-79 SMTP connection from (%U) [%R]:4242 I=[192.0.2.1]:25 closed by DROP in ACL", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "1UlasQ-0003fr-45 F=<%U> H=(%U) [%R]:4242 I=[192.0.2.1]:25 P=esmtp rejected by local_scan(): %U", HL_V4, HL_V4},
    {"exim", NULL, "Dec  6 12:00:00 mx exim[4242]: 2026-12-06 12:00:00 plain_server authenticator failed for (%U) [%R]: 535 Incorrect authentication data (set_id=%U)", HL_V4, HL_V4},
    /* Courier: "LOGIN FAILED, user=%s, ip=[%s]" ends the line; courieresmtpd starts with the relay. */
    {"courier", NULL, HL_TS "imapd-ssl: LOGIN FAILED, user=%U, ip=[%R]", "::ffff:" HL_V4, HL_V4},
    {"courier", NULL, HL_TS "courierpop3login: LOGIN FAILED, method=PLAIN, user=%U, ip=[%R]", HL_V6, HL_V6},
    {"courier", NULL, HL_TS "courieresmtpd[4242]: error,relay=%R,port=43632,msg=\"535 Authentication failed.\",cmd: AUTH LOGIN %U", "::ffff:" HL_V4, HL_V4},
    {"courier", NULL, HL_TS "courieresmtpd[4242]: error,relay=%R,from=<%U>,to=<%U>: 550 User unknown.", "::ffff:" HL_V4, HL_V4},
    /* Cyrus: "badlogin: host [ip] mech user reason": the client host first. */
    {"cyrus", NULL, HL_TS "cyrus/imaps[4242]: badlogin: %H [%R] plaintext %U SASL(-13): authentication failure: checkpass failed", HL_V4, HL_V4},
    {"cyrus", NULL, HL_TS "cyrus/imap[4242]: badlogin: [%R] PLAIN [SASL(-13): authentication failure: %U]", HL_V6, HL_V6},
    /* sendmail: "relay=name [ip]" ends AUTH failures and from= lines; ruleset lines carry the address in
     * the middle, between the client's argument and the reply that repeats it. */
    {"sendmail", NULL, HL_TS "sm-mta[4242]: 06I02CNi016764: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=%U, relay=%H [%R] (may be forged)", HL_V4, HL_V4},
    {"sendmail", NULL, HL_TS "sm-mta[4242]: 06I02CNi016764: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=%U, relay=[IPv6:%R]", HL_V6, HL_V6},
    {"sendmail", NULL, HL_TS "sm-mta[4242]: s1N9aKAw012603: ruleset=check_rcpt, arg1=<%U>, relay=%H [%R], reject=550 5.7.1 <%U>... Relaying denied", HL_V4, HL_V4},
    {"sendmail", NULL, HL_TS "sm-mta[4242]: s1N9aKAw012604: ruleset=check_mail, arg1=<%U>, relay=[%R], reject=553 5.1.8 <%U>... Domain of sender address %U does not exist", HL_V4, HL_V4},
    {"sendmail", NULL, HL_TS "sm-mta[4242]: s1D0GoSs025815: %H [%R]: vrfy %U [rejected]", HL_V4, HL_V4},
    {"sendmail", NULL, HL_TS "sm-mta[4242]: s1GNXHYB005133: %H [%R]: possible SMTP attack: command=AUTH, count=5", HL_V4, HL_V4},
    {"sendmail", HL_TS "sendmail[4242]: rA37ZTSC026255: <%U>... No such user here",
     HL_TS "sendmail[4242]: rA37ZTSC026255: from=<%U>, size=0, class=0, nrcpts=0, bodytype=8BITMIME, proto=ESMTP, daemon=MTA, relay=%H [%R]", HL_V4, HL_V4},
    /* UW IMAP: "Login failed user=%.80s auth=%.80s host=%.80s", the host last. */
    {"uwimap", NULL, HL_TS "imapd[4242]: Login failed user=%U auth=%U host=%H [%R]", HL_V4, HL_V4},
    {"uwimap", NULL, HL_TS "ipop3d[4242]: Login excessive login failures user=%U auth=%U host=[%R]", HL_V4, HL_V4},
    /* qmail: the address first; the rest is the DNSBL's (tested as if the client wrote it). */
    {"qmail", NULL, HL_TS "qmail: 1157519909.633171 qmail-smtpd: 421 badiprbl: ip %R rbl: %U", HL_V4, HL_V4},
    {"qmail", NULL, HL_TS "rblsmtpd: relays.example.org blocked %R %U -", HL_V4, HL_V4},
    /* solid-pop3d: "... for user %s - %s", the address ends the line. */
    {"solid-pop3d", NULL, HL_TS "solid-pop3d[4242]: authentication failed for user %U - %R", HL_V4, HL_V4},
    {"solid-pop3d", NULL, HL_TS "solid-pop3d[4242]: authentication failed: no such user: %U - %R", HL_V6, HL_V6},
    {"solid-pop3d", NULL, HL_TS "solid-pop3d[4242]: can't find APOP secret for user %U - %R", HL_V4, HL_V4},
    /* perdition: "Auth: ip:port->ip:port ..." starts the message. */
    {"perdition", NULL, HL_TS "perdition.imaps[4242]: Auth: %R:2274->192.0.2.1:993 client-secure=ssl authorisation_id=NONE authentication_id=\"%U\" server=\"imap.example.org:993\" protocol=IMAP4S server-secure=ssl status=\"failed: %U\"", HL_V4, HL_V4},
    /* Added later; kept at the end so that the fuzz seeds' first byte keeps naming the same line. */
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: lost connection after EHLO from %H[%R]", HL_V6, HL_V6},
    {"dovecot", NULL, HL_TS "dovecot[42]: imap-login: Disconnected (no auth attempts in 2 secs): user=<>, rip=%R, lip=192.0.2.1, TLS handshaking: SSL_accept() failed: %U", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4245]: Failed publickey for %U from %R port 4242 ssh2: ED25519 SHA256:AbCdEf0123456789+/AbCdEf0123456789AbCdEf0", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4246]: Received disconnect from %R port 4242:11: %U [preauth]", HL_V4, HL_V4},
    {"exim", NULL, HL_EXIM "H=[%R]:4242 dropped by 'connect' ACL: %U", HL_V4, HL_V4},
    {"sendmail", NULL, HL_TS "sm-mta[4242]: s1GNXHYB005134: rejecting commands from %H [%R] due to pre-greeting traffic after 0 seconds", HL_V4, HL_V4},
    {"sshd", NULL, HL_TS "sshd[4247]: Disconnecting invalid user %U %R port 4242: Too many authentication failures [preauth]", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/smtpd[123]: warning: %H[%R]: SASL LOGIN authentication failed: Connection lost to authentication server, sasl_username=%U", HL_V4, HL_V4},
    {"postfix", NULL, HL_TS "postfix/submission/smtpd[123]: too many errors after RCPT from %H[%R]", HL_V6, HL_V6},
};
#define HOSTILE_NTMPL (sizeof hostile_tmpls / sizeof hostile_tmpls[0])

/* Writes template t with field u[0..un) into out (cap bytes, NUL-terminated). Returns the length, or 0
 * when it does not fit. */
static size_t hostile_render(char *out, size_t cap, const char *t, const char *real, const char *u, size_t un)
{
    size_t o = 0;
    for (const char *p = t; *p; p++) {
        const char *s = p;
        size_t n = 1;
        bool host = false;
        if (p[0] == '%' && p[1] == 'U') { s = u; n = un; p++; }
        else if (p[0] == '%' && p[1] == 'H') { s = u; n = un; host = true; p++; }
        else if (p[0] == '%' && p[1] == 'R') { s = real; n = strlen(real); p++; }
        if (o + n + 8 >= cap) return 0;
        if (host && n == 0) { memcpy(out + o, "unknown", 7); o += 7; continue; }
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (c == '\n' || c == '\0') c = ' ';
            if (host && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
                c = '-';
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return o;
}

struct hostile_seen {
    const char *want;
    int events;          /* events delivered for the line */
    int real;            /* ... with the real address */
    int other;           /* ... with an address that is not the real one: the oracle's failure */
    char bad_ip[SG_EV_IP_MAX];
    char bad_rule[SG_EV_RULE_MAX];
};

static void hostile_sink(const struct sg_event *ev, void *arg)
{
    struct hostile_seen *s = arg;
    s->events++;
    if (!ev->family) return;   /* no address: cannot name anybody */
    if (!strcmp(ev->ip, s->want)) { s->real++; return; }
    s->other++;
    memcpy(s->bad_ip, ev->ip, sizeof s->bad_ip);
    memcpy(s->bad_rule, ev->rule, sizeof s->bad_rule);
}

/* Feeds template t filled with field u (its context line first) to parser p; *seen gathers both lines'
 * events. buf holds the last line rendered (for messages). Returns false when a line did not fit. */
static bool hostile_feed(struct detect_parser *p, const struct hostile_tmpl *t, const char *u, size_t un,
                         char *buf, size_t cap, struct hostile_seen *seen)
{
    memset(seen, 0, sizeof *seen);
    seen->want = t->want;
    size_t n;
    if (t->ctx) {
        if (!(n = hostile_render(buf, cap, t->ctx, t->real, u, un))) return false;
        detect_parser_line(p, buf, n, hostile_sink, seen);
    }
    if (!(n = hostile_render(buf, cap, t->line, t->real, u, un))) return false;
    detect_parser_line(p, buf, n, hostile_sink, seen);
    return true;
}

#endif
