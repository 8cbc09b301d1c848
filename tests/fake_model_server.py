"""A stand-in for llama.cpp's server, run as a process: `python fake_model_server.py PORT MODE`.

MODE `ok` answers one token, `segv` dies with SIGSEGV on the first completion (as a llama.cpp
build for the wrong CPU does), `http500` answers 500 with a two-line body.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    mode = "ok"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._send(200, json.dumps({"object": "list", "data": [{"id": "smollm2"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.mode == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.mode == "http500":
            self._send(500, b"ggml_compute_forward: unsupported op\nframe #1 ...")
            return
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}}]}
        self._send(200, json.dumps(reply).encode())


if __name__ == "__main__":
    Handler.mode = sys.argv[2]
    signal.signal(signal.SIGSEGV, signal.SIG_DFL)  # Python's faulthandler must not catch it
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
