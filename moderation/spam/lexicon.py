"""Word lists behind the text signals: URL shorteners, top-level domains, promotional phrases.

These are hand-written from general knowledge of comment and message spam (self-promotion,
money-making offers, contact-me lures), not learned from any evaluation set. They only give the
cold-start score its direction: the online model re-weighs every signal from moderators'
decisions, and a site adds its own domains through ``spam_allow_domains``/``spam_deny_domains``.
"""

from __future__ import annotations

#: Link shorteners hide the destination, a classic of link spam. Platform-owned short domains
#: that always point at the platform itself (``youtu.be``) are not listed.
SHORTENERS: frozenset[str] = frozenset(
    {
        "adf.ly",
        "bc.vc",
        "bit.do",
        "bit.ly",
        "bitly.com",
        "buff.ly",
        "cutt.ly",
        "db.tt",
        "goo.gl",
        "is.gd",
        "j.mp",
        "lnkd.in",
        "mcaf.ee",
        "ow.ly",
        "po.st",
        "qr.ae",
        "rb.gy",
        "rebrand.ly",
        "s.id",
        "shorturl.at",
        "shorte.st",
        "soo.gd",
        "su.pr",
        "t.co",
        "t.ly",
        "tiny.cc",
        "tinyurl.com",
        "tr.im",
        "v.gd",
        "x.co",
    }
)

#: Top-level domains recognised in a bare ``name.tld`` (no scheme, no ``www``). Only endings
#: that are not also everyday words, so "good.In my view" is not taken for a link.
BARE_TLDS: frozenset[str] = frozenset(
    {
        "biz",
        "cf",
        "club",
        "cn",
        "com",
        "de",
        "ga",
        "gl",
        "gq",
        "info",
        "io",
        "ly",
        "ml",
        "net",
        "online",
        "org",
        "ru",
        "site",
        "store",
        "tk",
        "top",
        "uk",
        "website",
        "xyz",
    }
)

#: Endings that are words too ("in", "me", "it"): a bare domain with one of these counts only
#: when a path follows (``name.me/page``).
WORDLIKE_TLDS: frozenset[str] = frozenset(
    {
        "am",
        "at",
        "be",
        "ca",
        "cc",
        "co",
        "es",
        "eu",
        "fr",
        "in",
        "is",
        "it",
        "me",
        "my",
        "nl",
        "no",
        "pl",
        "so",
        "to",
        "tv",
        "us",
        "ws",
    }
)

#: Second-level labels under which registrations happen (``shop.co.uk``, ``loja.com.br``).
SECOND_LEVEL: frozenset[str] = frozenset({"co", "com", "net", "org", "ac", "gov", "edu"})

#: Self-promotion, as patterns (regular expressions over lower-cased words): a call to action
#: aimed at the writer's own things ("check out our band", "subscribe to me", "my channel").
#: Weight 2: spam almost wherever it appears. Tried before the literal phrases below.
PROMO_PATTERNS: tuple[tuple[str, int], ...] = (
    (
        r"(?:check|checkout|visit|watch|listen\s+to|view|subscribe\s+to|sub\s+to|follow)"
        r"(?:\s+out)?\s+(?:my|our)",
        2,
    ),
    (
        r"(?:my|our)\s+(?:new\s+|latest\s+|own\s+|first\s+|youtube\s+|gaming\s+)?"
        r"(?:channel|videos?|vids|vlogs?|songs?|music|band|page|blog|"
        r"website|site|profile|playlist|tracks?|album|covers?|shop|store|stream|business)",
        2,
    ),
    (r"(?:check|follow)\s+(?:me|us)(?:\s+out)?", 2),
    (r"(?:subscribe|sub)\s+(?:to\s+)?(?:me|us)", 2),
    (r"(?:subscribe|sub)\s+back", 2),
    (r"i\s+(?:will\s+|'ll\s+)?(?:subscribe|sub)\s+(?:to\s+)?(?:you|u)", 2),
)

#: The words a pattern above can start with (patterns are only tried at these words).
PROMO_PATTERN_STARTS: frozenset[str] = frozenset(
    {
        "check",
        "checkout",
        "visit",
        "watch",
        "listen",
        "view",
        "subscribe",
        "sub",
        "follow",
        "my",
        "our",
        "i",
    }
)

#: Literal promotional phrases and their weight: 2 for offers and lures that are spam almost
#: wherever they appear, 1 for words that are merely frequent in spam.
#: Matched on cleaned, lower-cased text at word boundaries; ``\s+`` between words.
PROMO_PHRASES: dict[str, int] = {
    # self-promotion
    "check out my": 2,
    "check my": 2,
    "checkout my": 2,
    "visit my": 2,
    "subscribe to my": 2,
    "sub to my": 2,
    "sub4sub": 2,
    "sub 4 sub": 2,
    "follow me": 2,
    "follow my": 2,
    "add me": 1,
    "my channel": 2,
    "my new video": 2,
    "my video": 1,
    "my page": 1,
    "my website": 2,
    "my site": 2,
    "my blog": 2,
    "my profile": 1,
    "my music": 1,
    "my songs": 1,
    "watch my": 2,
    "listen to my": 2,
    "like my": 1,
    "link in bio": 2,
    "link in my bio": 2,
    "please subscribe": 2,
    "subscribe": 1,
    "subscribers": 1,
    "follow back": 1,
    "promote": 1,
    # offers and money
    "make money": 2,
    "earn money": 2,
    "earn cash": 2,
    "earn $": 2,
    "make $": 2,
    "work from home": 2,
    "working from home": 2,
    "from the comfort of your home": 2,
    "per hour": 1,
    "per week": 1,
    "per day": 1,
    "a month from": 1,
    "get paid": 2,
    "paid surveys": 2,
    "extra income": 2,
    "passive income": 2,
    "investment": 1,
    "invest": 1,
    "bitcoin": 1,
    "crypto": 1,
    "forex": 1,
    "binary options": 2,
    "casino": 1,
    "betting": 1,
    "lottery": 1,
    "jackpot": 1,
    "you have won": 2,
    "you've won": 2,
    "you won": 1,
    "winner": 1,
    "prize": 1,
    "claim your": 2,
    "claim now": 2,
    "free gift": 2,
    "gift card": 2,
    "giveaway": 1,
    "free": 1,
    "discount": 1,
    "promo code": 2,
    "coupon": 1,
    "special offer": 2,
    "limited time": 2,
    "buy now": 2,
    "order now": 2,
    "cheap": 1,
    "loan": 1,
    "viagra": 2,
    "cialis": 2,
    "weight loss": 2,
    "lose weight": 2,
    # contact lures and calls to action
    "click here": 2,
    "click the link": 2,
    "click on the link": 2,
    "click this link": 2,
    "visit": 1,
    "click": 1,
    "sign up": 1,
    "register now": 2,
    "join now": 2,
    "dm me": 2,
    "message me": 1,
    "contact me": 1,
    "text me": 1,
    "call now": 2,
    "whatsapp": 1,
    "telegram": 1,
    "hit me up": 1,
    "check it out": 1,
    "check out": 1,
    "please share": 1,
    "share this": 1,
}
