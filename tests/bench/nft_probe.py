#!/usr/bin/env python3
# nft_probe.py: TCP listener and connector for the nft enforcement tests (run inside namespaces).
#   nft_probe.py listen PORT...            accept and close on each port (IPv4 and IPv6) until killed
#   nft_probe.py connect SRC DST PORT [S]  connect from SRC; prints ok|timeout|refused|error, exit 0|1|2|3
import select
import socket
import sys


def listen(ports):
    socks = []
    for p in ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", int(p)))
        s.listen(64)
        socks.append(s)
    print("listening", flush=True)
    while True:
        ready, _, _ = select.select(socks, [], [], 1.0)
        for s in ready:
            c, _ = s.accept()
            c.close()


def connect(src, dst, port, timeout):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect((dst, int(port)))
        print("ok")
        return 0
    except socket.timeout:
        print("timeout")
        return 1
    except ConnectionRefusedError:
        print("refused")
        return 2
    except OSError as e:
        print("error", e)
        return 3
    finally:
        s.close()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "listen":
        listen(sys.argv[2:])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "connect":
        sys.exit(connect(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]) if len(sys.argv) == 6 else 1.5))
    else:
        print(__doc__ or "usage: nft_probe.py listen PORT... | connect SRC DST PORT [SECONDS]", file=sys.stderr)
        sys.exit(2)
