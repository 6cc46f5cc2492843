"""An OAuth-protected vendor for the emulated deployment: an MCP server and its authorization server (dynamic client
registration, PKCE, consent page), the integrations suite's stand-in (tests/functional/integrations/
remote_oauth_servers.py, built from the MCP SDK's server-side auth), as a process.

    python oauth_server.py      # prints `listening on URL`

`GET URL/_e2e/vendor` answers {"mcp": the server's URL, "issuer": ..., "issued": every token issued so far}. A
separate process: the harness imports nothing from dexa (nor does the stand-in).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional" / "integrations"))

from remote_oauth_servers import start_vendor  # pyright: ignore[reportMissingImports]


def main() -> None:
    vendor: Any = start_vendor()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path != "/_e2e/vendor":
                self.send_error(404)
                return
            body = json.dumps(
                {"mcp": vendor.url(), "issuer": vendor.auth.issuer, "issued": list(vendor.auth.issued)}
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
