"""Jekyll: _config.yml."""

from __future__ import annotations

from ..core.dialects import dialect
from ..core.permalinks import JEKYLL_STYLES
from .draft import Draft, person
from .model import EXAMPLE_URL
from .permalinks import take_permalink, translate_colon
from .readers import as_language, as_text, is_post, relative_dir, under


def adopt_jekyll(d: Draft) -> None:
    ev, cfg = d.ev, d.parse(d.ev)
    d.set("title", as_text(cfg.get("title")), f"{ev}: title")
    url, base = as_text(cfg.get("url")), (as_text(cfg.get("baseurl")) or "").strip("/")
    if url:
        d.set("url", url.rstrip("/") + "/" + base + "/" * bool(base), f"{ev}: url" + " + baseurl" * bool(base))
    elif base:
        d.stand_in(
            "url",
            f"{EXAMPLE_URL}{base}/",
            f"{ev} has a baseurl but no url: write the site's address",
            f"[site] url: {ev} has no url (only baseurl {base!r}); write the site's address",
        )
    person(d, cfg.get("author"), f"{ev}: author")
    d.set("email", as_text(cfg.get("email")), f"{ev}: email")
    d.set("description", as_text(cfg.get("description")), f"{ev}: description")
    if not d.set("timezone", as_text(cfg.get("timezone")), f"{ev}: timezone"):
        d.stand_in(
            "timezone",
            "UTC",
            "Jekyll: none given (Jekyll takes the build machine's zone)",
            "[site] timezone: Jekyll reads dates written without an offset in the time zone of the machine"
            " that builds the site; write that zone (wrote UTC)",
        )
    d.set("language", as_language(cfg.get("lang")), f"{ev}: lang")  # the first found wins
    d.set("language", as_language(cfg.get("locale")), f"{ev}: locale")
    source = as_text(cfg.get("source"))
    folder = relative_dir(source) if source else "."
    if folder is None:
        d.warnings.append(f"{ev}: source {source!r} is outside the site; used the site folder")
    folder = folder or "."
    d.set("dir", folder, f"{ev}: source" if folder != "." else "Jekyll: the site folder itself")
    d.set("taxonomies", ("tags", "categories"), "Jekyll's tags and categories")
    inside = under(folder, d.site.files)
    found = sorted({f[: f.index("_posts/") + 6] for f in inside if is_post(f) and "_posts" in f.split("/")[:-1]})
    if found:  # a section is a folder at the top of dir; Jekyll's _posts/ may be anywhere: all of them
        d.default("sections", (), f"every _posts/ folder, as Jekyll reads them (found: {', '.join(found)})")
    else:
        d.stand_in(
            "sections",
            (),
            "every _posts/ folder (none found)",
            "[content] sections: no _posts/ folder with Markdown found; Jekyll's posts are in _posts/",
        )
    written = as_text(cfg.get("permalink"))
    default = dialect("jekyll").permalink
    if written is None:
        take_permalink(d, JEKYLL_STYLES["date"], "Jekyll's default style, date", translate_colon, default)
    else:
        where = f"{ev}: permalink {written}" if written in JEKYLL_STYLES else f"{ev}: permalink {written!r}"
        take_permalink(d, JEKYLL_STYLES.get(written, written), where, translate_colon, default)
