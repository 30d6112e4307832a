"""Generated news-comment text for tests and benchmarks: reproducible, no data files needed.

Two shapes of comment, both ordinary English that a tokeniser and the spam signals see as real
reader comments:

* :func:`prose` — one short, distinct, civil comment per index (four parts drawn from lists of
  coprime lengths). Indices below 2,431 (11 * 13 * 17) share at most two parts, i.e. about half
  their text, which keeps a stream of them clear of the near-duplicate spam signal. Given a
  ``random.Random``, each part is shifted by up to six places (the load benchmark's variation).
* :func:`news_comments` — comments of news-comment length: a log-normal number of words (median
  ≈ 35, mean ≈ 55, a few past a model's 512-token window) made of sentences from
  :data:`SENTENCES`, civil and uncivil remarks alike.

:func:`stream_text` mixes :data:`TOXIC` remarks into :func:`prose` at a given share; past
2,431 comments such a stream repeats itself (prose has 46,189 texts, and its variations overlap),
which the spam checks rightly see as a campaign. :func:`open_stream_text` mixes them into
:func:`varied_prose` instead, whose civil comments stay distinct however long the run (its toxic
remarks, numbered, are near duplicates of each other). :func:`news_prose` (and
:func:`news_stream_text`, with a toxic remark before a tenth of them) is news-length text whose
comments overlap about as little as real ones (:mod:`moderation.evaluation.words`): the text of
the benchmarks whose figures are for ordinary traffic (pipeline, growth, load, latency, soak),
which depend on how many near-duplicate candidates a comment finds.

Every function is deterministic for the same arguments (and seed / generator state).
"""

from __future__ import annotations

import random

from moderation.evaluation.words import FUNCTION, MORE

# Four parts of similar length, from lists of 11, 13, 17 and 19 entries (pairwise coprime),
# chosen by index modulo each size: see :func:`prose`.
PARTS: tuple[tuple[str, ...], ...] = (
    (
        "Thanks for the budget story.",
        "Good piece on school lunches.",
        "Nice work on the harbour.",
        "Useful explainer on bus fares.",
        "I liked the library report.",
        "Rent prices are brutal.",
        "Parking at the hospital, ugh.",
        "The cycling lanes look good.",
        "Flood defences matter.",
        "Great match report today.",
        "Fair take on the debate.",
    ),
    (
        "My street agrees with you.",
        "The numbers look plausible.",
        "Sources would help though.",
        "I disagree with the ending.",
        "Hoping for a follow-up.",
        "The headline oversells it.",
        "My family was affected too.",
        "The map was hard to read.",
        "Council replies were vague.",
        "Timeline was very clear.",
        "Some quotes felt selective.",
        "Shared it with my friends.",
        "Older folks may differ.",
    ),
    (
        "Keep it up, newsroom.",
        "Cheers from the east side.",
        "More of this, please.",
        "Well done to the reporter.",
        "Just my two cents here.",
        "Looking forward to part two.",
        "Happy to be corrected.",
        "Regards from a long-time reader.",
        "Thanks again, truly.",
        "Interesting times ahead.",
        "We shall see what happens.",
        "Nice photography as well.",
        "Curious what others think.",
        "That is all from me.",
        "Good weekend, everyone.",
        "First comment in years.",
        "Stay well, all of you.",
    ),
    (
        "Posted from the bus.",
        "Written over breakfast.",
        "Typed on my phone, sorry.",
        "Read it twice already.",
        "My neighbour sent it to me.",
        "Found it via the newsletter.",
        "Saw it on the front page.",
        "Read it during lunch.",
        "My daughter showed me this.",
        "Came back to reread it.",
        "Printed it for my dad.",
        "Read it aloud at dinner.",
        "Bookmarked for later.",
        "Discussed it at work.",
        "Commenting from the library.",
        "Late to this one, I know.",
        "Third visit to this page.",
        "Sent it to my MP.",
        "Noticed it on the radio too.",
    ),
)

#: Blatantly toxic remarks (profanity and insults) that every scorer flags.
TOXIC: tuple[str, ...] = (
    "you are a fucking idiot and so is everyone who agrees with you",
    "shut the fuck up, moron",
    "what a load of shit, the writer is a stupid bitch",
)

#: Sentences of :func:`news_comments`: civil remarks and uncivil ones (rude, not profane).
SENTENCES: tuple[str, ...] = (
    "Thanks for the clear explainer on the council budget.",
    "I have lived here for thirty years and the buses have never been worse.",
    "This is exactly the kind of local journalism we need more of.",
    "Honestly I do not understand why anyone would support this plan given the costs.",
    "You clearly did not read past the headline.",
    "Where is the evidence for the claim in the third paragraph?",
    "My kids go to that school and the lunches really are that bad.",
    "The mayor promised a new library in 2019 and we are still waiting.",
    "Rents on my street went up by a fifth in a single year.",
    "Could you publish the full report so we can read it ourselves?",
    "What a load of nonsense from the usual suspects.",
    "The cycling lanes have made my commute ten minutes shorter.",
    "Nobody asked the people who actually live next to the site.",
    "I disagree with the conclusion, but the reporting is fair.",
    "Shut up, you clueless idiot, nobody cares what you think.",
    "These councillors are a disgrace and should resign today.",
    "The photographs of the flooded high street were heartbreaking.",
    "Interesting piece, though the graph on page two is hard to read.",
    "It is not rocket science: fix the potholes before building a stadium.",
    "My grandmother worked in that factory for forty years.",
    "People like you are the reason this town is falling apart.",
    "Parking at the hospital costs more than my lunch.",
    "Well done to the volunteers who cleared the park on Sunday.",
    "The numbers do not add up: twelve percent of forty thousand is not forty-eight thousand.",
    "Another puff piece for the developers, how much did they pay you?",
    "I hope the committee actually listens to the residents this time.",
    "What a pathetic excuse for a newspaper.",
    "The match report missed the second goal entirely.",
    "Great to see the market hall reopen after all these years.",
    "Is anyone else worried about the water quality in the river?",
    "Typical lazy reporting, copied straight from a press release.",
    "My neighbour has been waiting eight months for a hip operation.",
    "Thank you for covering this; the national papers ignored it.",
    "If you cannot afford to live here, move somewhere cheaper.",
    "The school run traffic on Mill Lane is dangerous every morning.",
    "I would love to see a follow-up in six months.",
)


def prose(i: int, rng: random.Random | None = None) -> str:
    """An ordinary comment for index ``i``, the same for the same ``i`` without ``rng``.

    With ``rng``, each of the four parts is shifted by ``rng.randrange(7)`` (four draws).
    """
    if rng is None:
        return " ".join(part[i % len(part)] for part in PARTS)
    return " ".join(part[(i + rng.randrange(7)) % len(part)] for part in PARTS)


def stream_text(i: int, rng: random.Random, *, toxic_share: float = 0.1) -> str:
    """Comment ``i`` of a mixed stream: with probability ``toxic_share`` a :data:`TOXIC` remark
    suffixed with ``(i)`` (so no two are identical), else :func:`prose` varied by ``rng``."""
    if rng.random() < toxic_share:
        return f"{rng.choice(TOXIC)} ({i})"
    return prose(i, rng)


#: Neutral words of local news and its comments, for :func:`varied_prose`: nothing a toxicity
#: scorer would flag, common enough that a tokeniser knows them.
_WORDS = """
    about after again against agree airport almost already also always another answer anyone
    april area argue article august autumn away bakery bank because before behind believe
    better between bicycle bigger board bridge brother budget building business busy call
    campaign cannot care carefully cars cathedral centre change cheaper children choice church
    city claim clear clinic closed coast coffee college committee community complain concert
    council country county court cousin crossing daily daughter debate december decide deliver
    demand detail different doctor dozen during early east economy editor election elderly
    energy engineer enough estate evening every evidence exactly example factory fair family
    farm father february ferry festival field figures finally fire first follow football forest
    friday friends funding future garden general gets given glad good grant great green ground
    growing half harbour health heard heating help history holiday homes hospital hours housing
    however hundred idea important improve including income inquiry instead january july june
    kitchen knew large later leader library light likely listen little local longer looked lower
    made maybe mayor meeting members million minister monday money month morning mother moved
    museum named nearby nearly never night north november number nurses october office often
    older opening option orchard other owner parents parish park parking people perhaps piece
    planning plans please police policy pool possible prices probably problem project promise
    public question quiet rail rather really reason recent record repair report residents rest
    result river road route rules safety saturday school season second september service share
    shops short should since small social south spending spring square staff station still
    street student summer sunday support surely surgery survey taxes teacher team theatre
    thursday ticket today together town traffic train trust tuesday twelve under until usual
    valley village visit volunteers waiting walk water wednesday week weekend west whole why
    winter within without wonder workers worried would writer yesterday young
"""
WORDS: tuple[str, ...] = tuple(_WORDS.split())


def varied_prose(rng: random.Random) -> str:
    """A civil comment of 12 to 47 words of :data:`WORDS`, drawn by ``rng``, in sentences of
    six to twelve words. It reads as word salad, but to the scorers it is ordinary text, and
    two of them share no more than two random draws of the same words would, far below the
    near-duplicate threshold, at any index: a stream of them is never a campaign."""
    return _sentences([rng.choice(WORDS) for _ in range(rng.randrange(12, 48))], rng)


def _sentences(words: list[str], rng: random.Random) -> str:
    """``words`` cut into sentences of six to twelve words (drawn by ``rng``), each capitalised
    and ended with a full stop."""
    sentences = []
    while words:
        n = rng.randrange(6, 13)
        sentence, words = words[:n], words[n:]
        sentences.append(" ".join(sentence).capitalize() + ".")
    return " ".join(sentences)


def open_stream_text(i: int, rng: random.Random, *, toxic_share: float = 0.1) -> str:
    """Comment ``i`` of an open-ended mixed stream: like :func:`stream_text`, with
    :func:`varied_prose` for the civil comments."""
    if rng.random() < toxic_share:
        return f"{rng.choice(TOXIC)} ({i})"
    return varied_prose(rng)


#: Content words of :func:`news_prose`: :data:`WORDS` and :data:`~moderation.evaluation.words.MORE`.
CONTENT: tuple[str, ...] = tuple(sorted(set(WORDS) | set(MORE)))


def news_prose(rng: random.Random, *, function_share: float = 0.3) -> str:
    """A civil comment of news-comment length (as :func:`news_comments`: a log-normal number of
    words, median about 35), in sentences of six to twelve words: each word a short common one
    (:data:`~moderation.evaluation.words.FUNCTION`) with probability ``function_share``, else
    one of :data:`CONTENT`. Word salad, but two of them overlap about as little as two real
    comments do: the near-duplicate index finds about as many chance candidates among them
    as among real text (``bench/candidates.py``), where :func:`news_comments`, built from
    few sentences, gives a hundred times as many and a stream of :func:`stream_text` is a
    campaign."""
    count = max(3, int(rng.lognormvariate(3.55, 0.75)))
    words = [
        rng.choice(FUNCTION) if rng.random() < function_share else rng.choice(CONTENT)
        for _ in range(count)
    ]
    return _sentences(words, rng)


def news_stream_text(rng: random.Random, *, toxic_share: float = 0.1) -> str:
    """A comment of an open-ended stream of news-length comments: :func:`news_prose`, and with
    probability ``toxic_share`` a :data:`TOXIC` remark before it (every text distinct)."""
    text = news_prose(rng)
    if rng.random() < toxic_share:
        return f"{rng.choice(TOXIC)}. {text}"
    return text


def news_comments(n: int, *, seed: int = 7) -> list[str]:
    """``n`` comments of news-comment length (see the module's doc), the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = max(3, int(rng.lognormvariate(3.55, 0.75)))
        parts: list[str] = []
        count = 0
        while count < words:
            sentence = rng.choice(SENTENCES)
            parts.append(sentence)
            count += len(sentence.split())
        out.append(" ".join(parts))
    return out
