"""Generate a deterministic synthetic site for benchmarking `syndicate build`.

    python bench/gensite.py OUT_DIR --posts N [--tags T] [--seed S] [--force]

Writes OUT_DIR/config/syndicate.toml and OUT_DIR/content/NNNNN-slug.md: N posts with YAML
front matter (title, date spread over the five years before 2024-01-01, 1-5 tags drawn
from T tag names on a Zipf curve, sometimes a thumb, sometimes a summary) and a ≈1,000-word
Markdown body (paragraphs, headings, a list, a link, a root-relative image, a code block).

Everything comes from one ``random.Random(seed)`` and a fixed base date, never the clock:
the same arguments give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SITE_TITLE = "Bench blog"
# Not example.org: an older `init` wrote that as a stand-in, and a site holding it delivers nothing.
SITE_URL = "https://example.com/"
BASE_DATE = datetime(2024, 1, 1, tzinfo=UTC)  # newest possible post date
YEARS = 5  # posts are spread over this many years before BASE_DATE
ZIPF_EXPONENT = 1.0
WORDS_PER_POST = (900, 1100)

CONFIG = f"""\
# Synthetic benchmark site written by bench/gensite.py; regenerate rather than edit.

[site]
title = "{SITE_TITLE}"
url = "{SITE_URL}"
author = "Bench Author"
timezone = "UTC"
permalink = "/posts/{{slug}}/"

[feeds]
items = 20
"""

_WORD_TEXT = """
ability able about above accept across action active actually add address admit adult
affect after again against agency agent agree ahead allow almost alone along already also
although always among amount analysis animal another answer anyone anything appear apply
approach area argue arm around arrive article artist assume attack attention audience author
available avoid away balance base beat beautiful because become before begin behavior behind
believe benefit best better between beyond big bill billion bit black blood blue board body
book born both box branch break bring brother budget build building business buy call camera
campaign cancel capital card care career carry case catch cause cell center central century
certain chair challenge chance change character charge check child choice choose church city
civil claim class clear close coach cold collection college color come common community
company compare compiler computer concern condition conference consider consumer contain
continue control cost could country couple course court cover create crime cultural culture
cup current customer cut dark data daughter dead deal death debate decade decide decision
deep default defense degree democratic describe design despite detail determine develop
device difference different difficult dinner direction director discover discuss disease
doctor dog door down draw dream drive drop during each early east easy eat economic economy
edge education effect effort eight either election else employee end energy enjoy enough
enter entire environment especially establish even evening event ever every evidence exactly
example executive exist expect experience expert explain eye face fact factor fail fall
family far fast father fear federal feed feel feeling field fight figure fill film final
finally financial find fine finger finish fire firm first fish five floor fly focus follow
food foot force foreign forget form former forward four free friend front full fund future
game garden general generation get girl give glass goal good government great green ground
group grow growth guess gun guy hair half hand hang happen happy hard have head health hear
heart heat heavy help here herself high himself history hold home hope hospital hot hotel
hour house however huge human hundred husband idea identify image imagine impact important
improve include including increase indeed indicate individual industry information inside
instead institution interest interesting international interview into investment involve
issue item itself join just keep kernel key kid kind kitchen know knowledge land language
large last late later laugh lawyer lay lead leader learn least leave left legal less letter
level library lie life light like likely line list listen little live local long look lose
loss lot love low machine magazine main maintain major majority make manage management
manager many market marriage material matter maybe measure media medical meet meeting member
memory mention message method middle might military million mind minute miss mission model
modern moment money month more morning most mother mouth move movement much music must myself
name nation national natural nature near nearly necessary need network never news newspaper
next nice night none nor north note nothing notice number occur offer office officer official
often oil once only onto open operation opportunity option order organization other others
outside over own owner page pain painting paper parent part participant particular partner
party pass past patient pattern pay peace people perform performance perhaps period person
personal phone physical pick picture piece place plan plant play player point police policy
political popular population position positive possible power practice prepare present
president pressure pretty prevent price private probably problem process produce product
production professional program project property protect prove provide public pull purpose
push quality question quickly quite race radio raise range rate rather reach read ready real
reality realize really reason receive recent recognize record reduce reflect region relate
release remain remember remove report represent require research resource respond response
rest result return reveal rich right rise risk road rock role room rule run safe same save
scene school science score season seat second section security see seek seem sell send
senior sense series serious serve server service set seven several shake share shoot short
shot should shoulder show side sign significant similar simple simply since sing single
sister sit site situation six size skill skin small smile social society soldier some
somebody someone something sometimes song soon sort sound source south southern space speak
special specific speech spend sport spring staff stage stand standard star start state
statement station stay step still stock stop store story strategy street strong structure
student study stuff style subject success successful such suddenly suffer suggest summer
support sure surface system table take talk task tax teach teacher team technology tell ten
tend term test than thank theory there these thing think third those though thought thousand
threat three through throughout throw thus time today together tonight total tough toward
town trade traditional training travel treat treatment tree trial trip trouble true truth
try turn type under understand unit until upon usually value various very victim view
violence visit voice vote wait walk wall want watch water weapon wear week weight well west
western what whatever when where whether which while white whole whom whose wide wife will
win wind window wish within without woman wonder word work worker world worry would write
writer wrong yard yeah year yes yet young yourself
"""
WORDS = _WORD_TEXT.split()

_TAG_TEXT = """
python rust golang javascript typescript haskell ocaml elixir erlang clojure kotlin swift
java scala ruby perl lua zig nim julia fortran cobol lisp scheme prolog sql postgres sqlite
redis kafka linux bsd unix kernel compilers parsers testing fuzzing debugging profiling
performance caching databases networking security cryptography privacy accessibility design
typography css html webassembly browsers feeds syndication rss atom markdown writing
blogging publishing editing books reading poetry fiction history philosophy economics
mathematics statistics probability algebra geometry physics chemistry biology astronomy
climate energy transport cycling running hiking climbing travel cooking baking coffee tea
music jazz photography film painting drawing gardening woodworking electronics robotics
embedded hardware firmware keyboards emacs vim git ci devops kubernetes docker cloud
serverless observability logging monitoring teams management hiring careers education
teaching learning research papers conferences open-source licensing community
"""
TAG_WORDS = _TAG_TEXT.split()

CODE_LINES = [
    "def {a}({b}, {c}=None):",
    "    {b} = {b} or []",
    "    for {c} in range(len({b})):",
    "        yield {b}[{c}] * 2",
    "    return sum({b}) / max(len({b}), 1)",
    "{a}_{b} = {{'{c}': {n}, 'limit': {n}0}}",
    "if {a} > {n} and not {b}:",
    "    raise ValueError(f'{a} is too large: {{{a}}}')",
    "print({a}({b}), '<{c}>' & 'done')",
    "# {a} the {b} before the {c}",
]


@dataclass(frozen=True)
class Post:
    number: int
    stem: str  # file name without ".md"
    title: str
    date: datetime
    tags: tuple[str, ...]


def make_tags(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct tag names, most popular first (lower-case unique, so slug-unique)."""
    names: list[str] = []
    seen: set[str] = set()
    base = list(TAG_WORDS)
    rng.shuffle(base)
    for word in base[:count]:
        names.append(word)
        seen.add(word)
    while len(names) < count:
        first, second = rng.choice(TAG_WORDS), rng.choice(WORDS)
        name = f"{first} {second}"
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        names.append(name.title() if rng.random() < 0.3 else name)
    rng.shuffle(names)  # popularity rank independent of how the name was made
    return names


def zipf_cum_weights(count: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    total = 0.0
    cum: list[float] = []
    for rank in range(1, count + 1):
        total += 1.0 / rank**exponent
        cum.append(total)
    return cum


def pick_tags(rng: random.Random, tags: Sequence[str], cum: Sequence[float]) -> tuple[str, ...]:
    wanted = min(len(tags), rng.choices((1, 2, 3, 4, 5), weights=(2, 4, 4, 2, 1))[0])
    chosen: list[str] = []
    while len(chosen) < wanted:
        tag = rng.choices(tags, cum_weights=cum)[0]
        if tag not in chosen:
            chosen.append(tag)
    return tuple(chosen)


def words(rng: random.Random, low: int, high: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randint(low, high))]


def sentence(rng: random.Random) -> str:
    ws = words(rng, 6, 18)
    if rng.random() < 0.15:
        i = rng.randrange(len(ws))
        ws[i] = f"*{ws[i]}*" if rng.random() < 0.6 else f"`{ws[i]}`"
    if len(ws) > 9 and rng.random() < 0.4:
        ws[rng.randrange(3, len(ws) - 3)] += ","
    end = "?" if rng.random() < 0.08 else "."
    text = " ".join(ws)
    return text[0].upper() + text[1:] + end


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 7)))


def title_case(ws: Sequence[str]) -> str:
    return " ".join(w.capitalize() if i == 0 or len(w) > 3 else w for i, w in enumerate(ws))


def code_block(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(4, 10)):
        a, b, c = (rng.choice(WORDS) for _ in range(3))
        lines.append(rng.choice(CODE_LINES).format(a=a, b=b, c=c, n=rng.randint(1, 99)))
    return "```python\n" + "\n".join(lines) + "\n```"


def body(rng: random.Random, post: Post, plan: Sequence[Post]) -> str:
    """≈1,000 words of Markdown."""
    target = rng.randint(*WORDS_PER_POST)
    blocks: list[str] = [paragraph(rng), paragraph(rng)]
    if rng.random() < 0.25:
        blocks.append("<!--more-->")
    blocks.append("## " + title_case(words(rng, 2, 6)))
    blocks.append(paragraph(rng))
    items = [" ".join(words(rng, 2, 9)).capitalize() for _ in range(rng.randint(3, 6))]
    marker = "1." if rng.random() < 0.3 else "-"
    blocks.append("\n".join(f"{marker} {item}" for item in items))
    if post.number > 1 and rng.random() < 0.7:
        other = plan[rng.randrange(post.number - 1)]  # plan is oldest first: an older post
        href = f"/posts/{other.stem}/"
    else:
        href = f"https://example.com/{rng.choice(WORDS)}/{rng.choice(WORDS)}.html"
    link_text = " ".join(words(rng, 2, 4))
    blocks.append(f"{sentence(rng)} See [{link_text}]({href}) for more. {paragraph(rng)}")
    alt = " ".join(words(rng, 2, 5))
    blocks.append(f"![{alt}](/images/{post.stem}/figure-1.png)")
    blocks.append(paragraph(rng))
    blocks.append(code_block(rng))
    if rng.random() < 0.3:
        blocks.append("> " + sentence(rng))
    headed = False
    count = len(" ".join(blocks).split())
    while count < target:
        if not headed and rng.random() < 0.3:
            blocks.append("### " + title_case(words(rng, 2, 5)))
            headed = True
        blocks.append(paragraph(rng))
        count += len(blocks[-1].split())
    return "\n\n".join(blocks) + "\n"


def front_matter(rng: random.Random, post: Post) -> str:
    lines = [
        "---",
        f"title: {json.dumps(post.title)}",
        f"date: {post.date:%Y-%m-%dT%H:%M:%SZ}",
        f"tags: [{', '.join(json.dumps(t) for t in post.tags)}]",
    ]
    if rng.random() < 0.3:
        lines.append(f"thumb: /images/thumbs/{post.stem}.jpg")
    if rng.random() < 0.4:
        lines.append(f"summary: {json.dumps(' '.join(sentence(rng) for _ in range(2)))}")
    lines.append("---")
    return "\n".join(lines) + "\n\n"


def plan_posts(rng: random.Random, count: int, tag_count: int) -> list[Post]:
    tags = make_tags(rng, tag_count)
    cum = zipf_cum_weights(tag_count)
    span = YEARS * 365 * 86400
    dates = sorted(BASE_DATE - timedelta(seconds=rng.randrange(span)) for _ in range(count))
    width = max(5, len(str(count)))
    posts: list[Post] = []
    for number, date in enumerate(dates, start=1):  # numbered oldest first
        title_words = words(rng, 3, 8)
        slug = "-".join(title_words[:6])
        posts.append(
            Post(
                number=number,
                stem=f"{number:0{width}d}-{slug}",
                title=title_case(title_words),
                date=date,
                tags=pick_tags(rng, tags, cum),
            )
        )
    return posts


def generate(out_dir: Path, posts: int, tags: int = 200, seed: int = 1, *, force: bool = False) -> list[Path]:
    """Write the site; returns the post files, oldest first."""
    if posts < 1 or tags < 1:
        raise ValueError("--posts and --tags must be at least 1")
    content = out_dir / "content"
    if content.exists() and any(content.iterdir()):
        if not force:
            raise FileExistsError(f"{content} is not empty; pass --force to replace it")
        shutil.rmtree(content)
    rng = random.Random(seed)
    plan = plan_posts(rng, posts, tags)
    (out_dir / "config").mkdir(parents=True, exist_ok=True)
    (out_dir / "config" / "syndicate.toml").write_text(CONFIG, encoding="utf-8", newline="\n")
    content.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for post in plan:
        text = front_matter(rng, post) + body(rng, post, plan)
        path = content / f"{post.stem}.md"
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--posts", type=int, required=True, metavar="N")
    parser.add_argument("--tags", type=int, default=200, metavar="T", help="distinct tag names (default 200)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR/content if it is not empty")
    args = parser.parse_args(argv)
    try:
        files = generate(args.out_dir, args.posts, args.tags, args.seed, force=args.force)
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} posts to {args.out_dir / 'content'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
