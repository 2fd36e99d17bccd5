"""An HTTPS receiver for the http_config.tls_config tests.

Usage: https_server.py HOST PORT OUTDIR
Creates a throw-away CA and server certificate (as smtp_server.py does) in OUTDIR, prints
"READY" once listening, and answers every POST with 200, appending the body to
OUTDIR/requests.jsonl. Runs until stdin closes.
"""

import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_server import make_certs  # noqa: E402


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(os.path.join(self.server.outdir, "requests.jsonl"), "a") as f:
            f.write(json.dumps({"path": self.path, "body": body.decode()}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    host, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = make_certs(outdir, host)
    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.outdir = outdir
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
