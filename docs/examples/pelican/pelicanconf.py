AUTHOR = "Aiko Tanaka"
SITENAME = "Notes from the Harbour"
SITEURL = ""

PATH = "content"
TIMEZONE = "Asia/Tokyo"
DEFAULT_LANG = "en"

ARTICLE_URL = "{date:%Y}/{slug}/"
ARTICLE_SAVE_AS = "{date:%Y}/{slug}/index.html"

# Feed generation is usually not desired when developing
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None

DEFAULT_PAGINATION = 10
