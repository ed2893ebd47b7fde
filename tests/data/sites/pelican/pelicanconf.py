# Pelican settings, in the shape `pelican-quickstart` writes them.
# Pelican 4.12: https://docs.getpelican.com/en/latest/settings.html
AUTHOR = "Aiko Tanaka"
SITENAME = "Notes from the Harbour"
SITEURL = "https://pelican.example.org"

PATH = "content"

TIMEZONE = "Asia/Tokyo"

DEFAULT_LANG = "en"

# Articles are everything under content/ except the page folder (these two
# are Pelican's defaults, written out for the reader).
ARTICLE_PATHS = [""]
PAGE_PATHS = ["pages"]
STATIC_PATHS = ["images"]

# A sub-folder of content/ names the category of the articles in it
# (default True); articles directly in content/ fall back to DEFAULT_CATEGORY.
USE_FOLDER_AS_CATEGORY = True
DEFAULT_CATEGORY = "misc"

# Pelican's defaults are ARTICLE_URL = "{slug}.html" and
# ARTICLE_SAVE_AS = "{slug}.html"; this site uses dated folders.
ARTICLE_URL = "{date:%Y}/{date:%m}/{slug}/"
ARTICLE_SAVE_AS = "{date:%Y}/{date:%m}/{slug}/index.html"
# Pages keep Pelican's defaults: PAGE_URL = "pages/{slug}.html".

# File names such as 2024-02-01-some-title.md give the date and the slug
# (Pelican's default is r"(?P<date>\d{4}-\d{2}-\d{2}).*", which gives the
# date only).
FILENAME_METADATA = r"(?P<date>\d{4}-\d{2}-\d{2})-(?P<slug>.*)"

# Pelican's default is True (future-dated articles are published); this
# site holds them back: a future-dated article is treated as a draft.
WITH_FUTURE_DATES = False

# No DEFAULT_DATE: an article without a Date (and none in its file name) is
# skipped with a warning.

# Feed generation is usually not desired when developing
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None

# Blogroll
LINKS = (
    ("Pelican", "https://getpelican.com/"),
    ("Python.org", "https://www.python.org/"),
)

# Social widget
SOCIAL = (("Mastodon", "https://mastodon.example.org/@aiko"),)

DEFAULT_PAGINATION = 10

# Uncomment following line if you want document-relative URLs when developing
# RELATIVE_URLS = True
