# policy.sh: one Postfix policy request, as smtpd sends it (sourced by sh or bash scripts).
#   policy_ask PORT USER|- CLIENT SERVER_PORT SENDER SIZE [STATE [RECIPIENTS]]
#       one request on a new loopback TCP connection to PORT: protocol_state STATE (END-OF-MESSAGE
#       unless given), sasl_username USER (- for none), client_address CLIENT, server_port
#       SERVER_PORT, sender SENDER, size SIZE and recipient_count RECIPIENTS (unless given: 1 at
#       END-OF-MESSAGE, 0 before it). Prints the answer's action without "action=" ("DUNNO",
#       "DEFER_IF_PERMIT 4.7.1 ..."), or nothing when the connection closed unanswered.
policy_ask() {
    python3 - "$@" <<'PY'
import socket, sys
port, user, client, sport, sender, size = sys.argv[1:7]
state = sys.argv[7] if len(sys.argv) > 7 else "END-OF-MESSAGE"
rcpt = sys.argv[8] if len(sys.argv) > 8 else "1" if state == "END-OF-MESSAGE" else "0"
attrs = [("request", "smtpd_access_policy"), ("protocol_state", state), ("protocol_name", "ESMTP"),
         ("client_address", client), ("sender", sender), ("recipient_count", rcpt),
         ("size", size), ("server_port", sport), ("sasl_username", "" if user == "-" else user)]
s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
s.sendall(("".join("%s=%s\n" % kv for kv in attrs) + "\n").encode())
data = b""
while not data.endswith(b"\n\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode().strip().replace("action=", "", 1))
PY
}
