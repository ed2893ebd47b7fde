// Read feed files with two real JavaScript feed readers and print what they understood.
// usage: node read.mjs FILE...   → one JSON line per file:
//   {"file", "reader", "title", "items": [{"id", "link", "title", "published"}]} or {"file", "error"}
import { readFileSync } from "node:fs";
import Parser from "rss-parser";
import { extractFromXml, extractFromJson } from "@extractus/feed-extractor";

const parser = new Parser();
const out = [];
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  try {
    if (file.endsWith(".json")) {
      const feed = extractFromJson(JSON.parse(text), { normalization: true });
      out.push({ file, reader: "feed-extractor", title: feed.title,
        items: feed.entries.map((e) => ({ id: e.id, link: e.link, title: e.title, published: e.published })) });
    } else {
      const feed = await parser.parseString(text);
      out.push({ file, reader: "rss-parser", title: feed.title,
        items: feed.items.map((e) => ({ id: e.guid ?? e.id, link: e.link, title: e.title, published: e.isoDate })) });
      const ex = extractFromXml(text, { normalization: true });
      out.push({ file, reader: "feed-extractor", title: ex.title,
        items: ex.entries.map((e) => ({ id: e.id, link: e.link, title: e.title, published: e.published })) });
    }
  } catch (err) {
    out.push({ file, error: String(err) });
  }
}
for (const row of out) console.log(JSON.stringify(row));
