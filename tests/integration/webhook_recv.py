#!/usr/bin/env python3
"""tests/integration/webhook_recv.py - a webhook receiver for tests/integration/webhooks.sh.

    webhook_recv.py --secret S --log FILE [--status-file FILE] [--port N]

Listens on 127.0.0.1 (port 0 by default: any free port) and prints
"listening on http://127.0.0.1:PORT" as its first stdout line. Every POST
is checked against X-Wharf-Signature (sha256=<hex HMAC-SHA256(secret,
body)>) and recorded as one JSON line in --log:
    {"path", "event_id", "sig_ok", "status", "event"}
It answers the status written in --status-file (default 200; read on each
request, so the test can switch between failure and success), or 401 when
the signature is wrong. Stops on SIGTERM.
"""
import argparse
import hashlib
import hmac
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--status-file")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    lock = threading.Lock()

    def wanted_status():
        try:
            with open(args.status_file) as f:
                return int(f.read().strip() or "200")
        except (TypeError, OSError, ValueError):
            return 200

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(n, MAX_BODY)) if n > 0 else b""
            want = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
            sig_ok = hmac.compare_digest(want, self.headers.get("X-Wharf-Signature") or "")
            status = wanted_status() if sig_ok else 401
            try:
                event = json.loads(body)
            except ValueError:
                event = None
            rec = {
                "path": self.path,
                "event_id": self.headers.get("X-Wharf-Event-Id"),
                "sig_ok": sig_ok,
                "status": status,
                "event": event,
            }
            with lock, open(args.log, "a") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
