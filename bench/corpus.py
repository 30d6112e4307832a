"""News-comment-shaped text for the scoring benchmarks (reproducible, no data files needed).

Lengths follow a log-normal distribution like reader comments under news articles: most are
one to three sentences, a long tail runs to several paragraphs (median ≈ 35 words, mean ≈ 55,
a few past the model's 512-token window). Sentences are drawn from a pool of civil and uncivil
remarks, so a model's tokeniser sees ordinary English.
"""

from __future__ import annotations

import random

SENTENCES = (
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


def news_comments(n: int, *, seed: int = 7) -> list[str]:
    """``n`` comments, the same for the same seed."""
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
