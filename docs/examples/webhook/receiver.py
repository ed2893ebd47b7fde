"""Receive syndicate's webhooks: verify each delivery, then act on it once.

NEWSLETTER_WEBHOOK_SECRET=whsec_... PORT=8000 python receiver.py
"""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["NEWSLETTER_WEBHOOK_SECRET"])  # the secret syndicate signs with
handled: set[str] = set()  # webhook-ids already acted on (keep them in a database in real life)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # the raw bytes
        try:
            event = webhook.verify(body, dict(self.headers))  # raises unless signed with the secret
        except (WebhookVerificationError, ValueError):  # older releases raise ValueError too
            self.send_response(401)
            self.end_headers()
            return
        if self.headers["webhook-id"] not in handled:  # a retry carries the same webhook-id
            handled.add(self.headers["webhook-id"])
            post = event["data"]  # the post as a JSON Feed item
            print(event["type"], post["url"], post.get("title", ""), flush=True)
        self.send_response(204)  # any 2xx: delivered
        self.end_headers()


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Receiver).serve_forever()
