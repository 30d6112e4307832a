"""Everyday English for generated comments (:func:`moderation.evaluation.corpus.news_prose`).

Real comments share few words beyond the common short ones, so two unrelated ones overlap in a
handful of character 4-grams: the near-duplicate index sees about 0.9 chance candidates per
comment per 8,000 in its window (``bench/candidates.py``, three real tweets joined per comment).
Text drawn from a few hundred words overlaps far more (about six times as many for
:data:`~moderation.evaluation.corpus.WORDS` alone), and the index's cost follows its
candidates. So the generator draws its content words from :data:`CONTENT` (this list and
``corpus.WORDS``: about 1,350 words, nothing a toxicity scorer flags) and mixes in
:data:`FUNCTION` words at about the share real prose has.
"""

from __future__ import annotations

_MORE = """
    ability able absence academy accept access accident account accused achieve acres across
    acted action active actual actually added address admit adopted adult advance advice
    advisers affair afford afraid afternoon agency agenda agents ahead aimed airline alarm
    album alert alley allow allowed alone along alright amazed amount analysis ancient angle
    animal annual answered apart apartment appeal appear applied approach approval approved
    argued arrival arrived artist assembly asset assume attack attempt attend attention
    audience author available average avoid award aware balance ballot band banner barely
    barrier based basic basket battery battle beach beauty became bedroom began begin behalf
    being belong below bench benefit beside beyond billion birth bishop blanket blocks blue
    boats bodies border borrow bottle bottom bought boundary boxes branch brand bread break
    breakfast brief bright bring broad broken brought brown buses butter buyers cabinet cable
    cafe calendar calm camera campus canal cancel candidate capital captain carbon career cargo
    carpet carried carry castle casual catch caught cause ceiling celebrate cellar census
    central century certain chair chairman chamber champion chance channel chapter charge
    charity chart check cheese chef chemical chest chicken chief choir chosen circle citizen
    civil claims class classic cleaner climate clock closer cloth cloud coach coastal coins
    cold collect colour column comedy comfort coming comment common company compare complete
    concern concrete confirm connect consider contact contain content contest context contract
    control convince cooking copper corner correct cost costs cottage cotton couch could
    counter couple courage course cover craft crane create crew crisis critic crops crowd crown
    culture cupboard current curtain customer cutting cycle damage dance danger dark data dated
    deadline dealer dealt decade decent deep defend degree delay delight density depend depth
    deputy design desk develop device diary diesel dinner direct discuss display distance
    district divide document domestic donate double doubt downtown draft drain drama drawing
    dream dress drink drive driver drop dry dust duty eager earlier earned easily eastern easy
    eating edge edition effect effort eight either elect electric element eleven emerge empty
    ended engine enjoy entire entry equal equipment error escape essay estimate evenly event
    everyone exact exam excited exhibit exist expand expect expense expert explain export
    extend fabric facility fact faded failed faith fallen false famous fancy farmer fashion
    faster fault favour feature federal feeling fence fewer fifteen fifty fight final finance
    finding finish fiscal fishing fitness fixed flat fleet flight floor flowers flying focus
    folder folk food forecast foreign forget formal former forty forward found frame fresh
    fridge front frozen fruit fuel full funny furniture gallery game garage gate gather gauge
    gentle genuine glass global goal golden gone government grade grain grand grass grave
    gravel greet grew grocery gross group guard guess guest guide habit handle happen happy
    hardly harvest headline healthy hearing heart heavy hedge height helpful hidden highway
    hill hire hobby hockey holding hollow honest honour hope horse hotel house huge human
    humour hunger hurry ideal identity image impact import increase indeed index indoor
    industry inform inland input inside insist install intend interest interior invite island
    issue item jacket joined joint journey judge juice jump junior justice keen kept kettle
    keys kind king knock known label labour ladder lake lamp land lane language laptop larger
    last lately latest laugh launch lawn lawyer layer leaflet league learn lease least leave
    lecture legal lemon lend length lesson letter level licence lift limit line liquid list
    living lobby locker lodge lonely loose lorry lost loud lovely lucky lunch machine magazine
    mail main major maker manage manner manual maple margin market marsh master match material
    matter meadow meal means measure media medical medium memory mention menu merchant metal
    method middle mild mile milk mind minor minute mirror missing mixed model modern moment
    motion motor mountain mouse movie much music narrow nation native nature needed neither
    nephew nervous network newer news next nice nine noise normal notice novel nursery oath
    object obvious ocean officer only open opera opinion orange order organ origin outdoor
    output outside oven overall owned oxygen package paint palace panel paper parade parcel
    partly partner party passage passed pastry patient pattern pause peace peak pencil pension
    pepper percent period permit person phone photo physical piano picnic pilot pipe pitch
    place plain planet plant plastic plate platform player pleasant plenty pocket poem point
    polite poll popular portion position postal potato pottery pound power practice praise
    predict prepare present press pretty prevent pride primary print prior prison private
    process produce product program proper protect proud provide pupil purple purpose quality
    quarter quickly quite radio railway raise rally range rapid rare rate reach ready realise
    receipt recycle reduce reform region regular relax release relief remain remote remove
    rental repeat replace request rescue research reserve resort respect respond retail retire
    return review reward rhythm rice rich ride right ring rise rival rock roof room rough round
    royal rubber rural sadly safe sail salad salmon sample sandwich satisfy sauce scale scene
    scheme science score screen script search seat secret section secure seed seem select
    senior sense series serious settle seven severe shadow shallow shape sharp sheep shelf
    shelter shift shirt shock shore shower sight signal silent silver simple single sister size
    skill slice slight slope slow smart smooth snack snow soft soil solar soldier solid solve
    sound soup source space spare speak speech speed spend spirit split sport spread stable
    stadium stage stairs stamp standard start state steady steel step stone storage storm story
    strange stream strength stretch strike strong studio style subject suburb success sudden
    sugar suggest suit summit sunny supply surface surplus surprise sweet swim symbol system
    table tablet talent talk tank target task taste teach teaching temple tenant tennis term
    terrace test text thank theme theory thick thin thought thread three throw tidy timber tiny
    tired title toast toilet tomato tone tool topic total touch tourist towel tower track trade
    trail transfer transport travel tree trend trial trick trip truck true tunnel twice type
    uncle unit unless update upper upset urban useful valid value vegetable vehicle venue
    version vessel view vintage visible visitor voice volume vote walking wall wander warm
    warning washing waste watch weather wedding weekly weight welcome western wheel whenever
    whisper wide widow wild window wine wire wise wooden wool word worker world worth writing
    yard yellow youth zone
"""
#: Content words beyond ``corpus.WORDS``: nouns, verbs and adjectives of everyday news (none of
#: the spam lexicon's, nor of its money and link vocabulary: a comment of them is civil prose).
MORE: tuple[str, ...] = tuple(_MORE.split())

#: Short common words, repeated by how often they come (drawn uniformly from this tuple).
_FUNCTION = """
    the the the a a a to to of of and and in in is it that for on with this was you i we they
    be have not are but at as so if or just by from there will about what more can
"""
FUNCTION: tuple[str, ...] = tuple(_FUNCTION.split())
