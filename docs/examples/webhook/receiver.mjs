// Receive syndicate's webhooks: verify each delivery, then act on it once.
//   NEWSLETTER_WEBHOOK_SECRET=whsec_... PORT=8000 node receiver.mjs
import http from "node:http";
import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.NEWSLETTER_WEBHOOK_SECRET); // the secret syndicate signs with
const handled = new Set(); // webhook-ids already acted on (keep them in a database in real life)

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks); // the raw bytes
      let event;
      try {
        event = webhook.verify(body, req.headers); // throws unless signed with the secret
      } catch {
        res.writeHead(401).end();
        return;
      }
      const id = req.headers["webhook-id"];
      if (!handled.has(id)) { // a retry carries the same webhook-id
        handled.add(id);
        const post = event.data; // the post as a JSON Feed item
        console.log(event.type, post.url, post.title ?? "");
      }
      res.writeHead(204).end(); // any 2xx: delivered
    });
  })
  .listen(Number(process.env.PORT ?? 8000), "127.0.0.1");
