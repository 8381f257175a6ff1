"""Per-language data for the sentence segmenter: terminators, abbreviations, sentence starters.

Everything here is plain data, lower-cased where it is compared case-insensitively. The lists
are deliberately modest: an abbreviation that is also an everyday word ("is", "me", "may") is
left out, because a period after it ends a sentence far more often than it marks a shortening.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("EXCLAMATION_NAMES", "LANGUAGES", "LanguageData", "multilingual")

# Latin-style marks need whitespace (or the end of the stream) after them to end a sentence;
# "hard" marks end one even when the next character follows without a space, as in CJK text.
LATIN_MARKS = frozenset(".!?…")
CJK_MARKS = frozenset("。！？｡．")
# Full stops and question marks of other scripts; pipecat's multilingual tests use them.
OTHER_HARD_MARKS = frozenset("।॥۔؟።፧။։")
# Names spelled with a final "!", lower case without it: "Yahoo! Research" is one sentence.
EXCLAMATION_NAMES = frozenset({"yahoo", "jeopardy"})


@dataclass(frozen=True, slots=True)
class LanguageData:
    """What one language contributes to segmentation.

    Attributes:
        soft_marks: Terminators that need whitespace after them ("." "!" "?").
        hard_marks: Terminators that end a sentence with no space after them ("。").
        abbreviations: Shortened words, lower case, without the final period; titles and
            the ones written before a number ("p. 55") included.
        titles: Abbreviations that always precede a name, so never end a sentence.
        starters: Capitalized words that commonly begin a sentence; they confirm a boundary
            after an ambiguous abbreviation ("U.S. How" splits, "U.S. Government" does not).
        months: Month names, lower case; "3. Oktober" is an ordinal date, not a boundary.
        ordinal_words: Words after which "<number>." is an ordinal ("am 3. ...", "der 2. ...").
    """

    soft_marks: frozenset[str]
    hard_marks: frozenset[str]
    abbreviations: frozenset[str]
    titles: frozenset[str]
    starters: frozenset[str]
    months: frozenset[str]
    ordinal_words: frozenset[str]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EN_ABBR = _words(
    """
    adj adm adv al approx apr assn asst attn aug ave bldg blvd bros capt cf cmdr co col
    comdr corp cpl dec dept det dist dr drs e.g est esp esq etc feb fla fwy gen gov govt hon
    hosp hwy i.e inc insp jan jr jul jun lt ltd maj messrs mfg mgr mon mr mrs ms msgr mt mtn
    nov oct ph.d pres prof pvt rd rep reps rev sen sens sep sept sgt sr st supt tues thurs
    univ u.s u.k u.n vs viz wed a.m p.m e.u d.c n.y l.a ca jr sr b.a m.a b.sc m.sc ft mins
    hrs fri sat sun thu tue ext dept. inst assoc natl intl
    """
)
_EN_TITLES = _words(
    "mr mrs ms dr drs prof messrs capt gen gov sen rev hon sgt lt col maj cmdr mt st supt msgr"
)
_EN_NUMBER = _words(
    "no nos nr p pp vol vols fig figs ch chap sec art para ex eq op n° nº tel rs apt fn eq ext"
)
_EN_STARTERS = _words(
    """
    A After Also An And Anyway As At Because Before Being Both But By Can Could Did Do Does
    Each Even Every Finally First For From Furthermore He Her Here His How However I If In
    Indeed Instead Is It Its Just Let Many Maybe Meanwhile Millions More Moreover Most My
    Next No Not Now Of Often On Once One Only Or Our Please Perhaps She Since So Some Still
    Such That The Their Then There Therefore These They This Those Though Thus To Today
    Tomorrow Unfortunately Was We Were What When Where Which While Who Why Will With Would
    Yes Yesterday Yet You Your Are Has Have Had Should Shall May Might Must Although
    Afterwards Later Second Third Otherwise Besides Similarly Overall Sometimes Nobody
    Everyone Everything Nothing Someone Something Here's There's It's That's What's Let's
    I'm I've I'll I'd We're They're You're He's She's Don't Doesn't Didn't Isn't
    """
)

_DE_ABBR = _words(
    """
    abb abs abt adr allg anm art aufl ausg bd bde bearb bes betr bez bhf bspw bzgl bzw ca
    chr co dez dgl di dipl do dr dt e.v ebd ehem eig engl entspr erg etc ev evtl exkl f ff
    fa feb fr frl gebr gegr gem ges gesch ggf gmbh hbf hr hrn hrsg i.a i.d.r i.e inkl ing
    jan jh jhd jr jul jun kap kath kfz kgl lfd lt ltd mag max med mio mrd mi min mo mrz mwst
    nachf nov nr n.chr okt o.ä o.g pfd pkw prof prot r.k rd rel rk röm s sa sep sept so sog
    st std str stud tab tel u.a u.ä u.a.m u.u usw v.a v.chr vgl vs z.b z.t z.z z.zt zt zz
    zzt ggü ust u.s.w u d.h d.i o.a m.e e.g bzgl ab abk
    """
)
_DE_TITLES = _words("dr prof hr hrn fr frl dipl ing mag st")
_DE_NUMBER = _words("s nr abs art bd kap tel no seite str ziff abb tab hausnr")
_DE_STARTERS = _words(
    """
    Aber Alle Allerdings Als Also Am An Auch Auf Aus Außerdem Bei Bitte Da Dabei Dafür Daher
    Damit Danach Dann Darum Das Dass Dein Deine Dem Den Denn Der Des Deshalb Die Dies Diese
    Dieser Dieses Doch Dort Du Durch Ein Eine Einer Er Es Etwa Euer Für Ganz Gestern Gut Heute
    Hier Ich Ihr Ihre Im In Ja Jede Jeder Jetzt Kann Kein Keine Man Manchmal Mein Meine Mit
    Morgen Nach Nein Nicht Nun Nur Ob Oder Schon So Sie Sind Trotzdem Um Und Uns Unser Viele
    Vom Von Vor Wann Warum Was Weil Wenn Wer Wie Wir Wo Zudem Zum Zur Zwar Zuerst Zunächst
    Leider Natürlich Vielleicht Wirklich Sehr
    """
)
_DE_MONTHS = _words(
    "januar februar märz april mai juni juli august september oktober november dezember "
    "jänner feber"
)
_DE_ORDINAL_WORDS = _words(
    "am im vom zum zur der die das den dem des bis ab seit bis zum ihr ihre sein seine jeden "
    "jede jeder dieser diese dieses ersten letzten"
)

_ES_ABBR = _words(
    """
    a.c a.m admón adm apdo art atte av avda ago abr bco cap cía cia col coord dcha dept dic
    dña dpto dr dra d.c ej ej etc ee.uu ene esq feb fig gral hnos hs izq jr jue jul jun lic
    lun mar may mié min mtro mtra núm num nov oct párr párrf pág pág pág pp prof prov pta
    ref sep sept sr sra srta sres srs sta sto tel ud uds vd vds vie vol vs art dom sáb ud
    ee uu cra ext mt st pl hs fax
    """
)
_ES_TITLES = _words("sr sra srta sres srs dr dra lic prof dña mtro mtra don sto sta ing arq mt st")
_ES_NUMBER = _words(
    "núm num no nº n° pág pag págs pp art párr párrf párrafo cap vol fig tel apdo cra ext"
)
_ES_STARTERS = _words(
    """
    A Al Algunos Además Ahora Así Aunque Cada Como Con Cuando Cómo Cuál Cuándo De Del Desde
    Después Donde Dónde El Ella Ellos En Entonces Es Esa Ese Eso Esta Este Esto Estos Gracias
    Hay Hoy La Las Lo Los Luego Mañana Me Mi Muchos Muy Más Nada No Nos Nosotros Para Pero
    Por Porque Puede Que Qué Se Si Sin Sobre Su Sus Sí También Tanto Te Todo Todos Tu Tú Un
    Una Uno Usted Ustedes Y Ya Yo Él Afortunadamente Desafortunadamente Espero Buenos Buenas
    """
)
_ES_MONTHS = _words(
    "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre "
    "noviembre diciembre"
)

_FR_ABBR = _words(
    """
    av apr art bd boul cf chap col dr éd etc ex fig hab inc janv févr juil sept oct nov déc
    me mm mme mmes mlle mlles mgr min no nos p pp prof pr st ste tél vol vs env esp ibid
    id n° nº m.
    """
)
_FR_TITLES = _words("m mm mme mmes mlle mlles dr pr prof me mgr st ste")
_FR_NUMBER = _words("no nos n° nº p pp art chap fig vol tél")
_FR_STARTERS = _words(
    """
    Alors Après Au Aujourd'hui Aussi Autrement Avec Ce Cela Celui Ces Cette Comme Comment
    Dans De Depuis Des Donc Du Elle Elles En Enfin Ensuite Et Il Ils Je La Le Les Leur Leurs
    Lui Mais Merci Mes Mon Nous Non On Or Oui Où Par Pour Pourquoi Puis Quand Que Quel Quelle
    Qui Sa Sans Se Ses Si Son Sur Ta Tes Toi Ton Tous Tout Toutes Tu Un Une Vous Voici Voilà
    C'est J'ai Il's Ça
    """
)
_FR_MONTHS = _words(
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
)

_IT_ABBR = _words(
    """
    a.c all art avv c.a cap cfr cit co dott dott.ssa dr ecc es etc fig gen geom ing lett
    mons n° nº no on pag pagg prof proff rag rev s sig sigg sig.na sig.ra sgg ss tel vol vs
    d.c p.es pres sen sta ven v dir amm psicol arch ass avv dott.ri gen feb mar apr mag giu
    lug ago sett ott nov dic lun mer gio sab dom mt st egr gent ill.mo spett
    """
)
_IT_TITLES = _words(
    "sig sigg sig.ra sig.na dott dott.ssa dr prof ing avv on rag mons rev geom dir amm arch "
    "psicol egr gent mt st"
)
_IT_NUMBER = _words("n° nº no n art pag pagg cap fig vol tel")
_IT_STARTERS = _words(
    """
    A Al Allora Anche Ci Che Chi Come Con Così Da Dal Del Della Di Dopo Dove E Ecco Egli Ella
    Era Gli Ha Hanno Ho I Il In Infatti Io La Le Lei Lo Loro Lui Ma Mi Molti Nel Nella Noi
    Non Oggi Ogni Per Perché Però Poi Quando Quella Quello Questa Questo Se Si Sono Su Sua
    Suo Tra Tu Tutti Tutto Un Una Uno Voi Grazie Inoltre Quindi
    """
)
_IT_MONTHS = _words(
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre"
)

_EMPTY: frozenset[str] = frozenset()


def _latin(
    abbr: frozenset[str],
    titles: frozenset[str],
    number: frozenset[str],
    starters: frozenset[str],
    months: frozenset[str],
    ordinal_words: frozenset[str] = _EMPTY,
) -> LanguageData:
    return LanguageData(
        soft_marks=LATIN_MARKS,
        # Full-width marks are unambiguous, and they do turn up in Latin-script text.
        hard_marks=CJK_MARKS,
        abbreviations=abbr | titles | number,
        titles=titles,
        starters=starters,
        months=months,
        ordinal_words=ordinal_words,
    )


_ENGLISH = _latin(_EN_ABBR, _EN_TITLES, _EN_NUMBER, _EN_STARTERS, _EMPTY)

LANGUAGES: dict[str, LanguageData] = {
    "en": _ENGLISH,
    "de": _latin(_DE_ABBR, _DE_TITLES, _DE_NUMBER, _DE_STARTERS, _DE_MONTHS, _DE_ORDINAL_WORDS),
    "es": _latin(_ES_ABBR, _ES_TITLES, _ES_NUMBER, _ES_STARTERS, _ES_MONTHS),
    "fr": _latin(_FR_ABBR, _FR_TITLES, _FR_NUMBER, _FR_STARTERS, _FR_MONTHS),
    "it": _latin(_IT_ABBR, _IT_TITLES, _IT_NUMBER, _IT_STARTERS, _IT_MONTHS),
    # CJK text also ends sentences with Latin marks ("Python 3.12です!") and holds Latin
    # abbreviations ("Dr. Smith"): the English data, whose hard marks are the full-width
    # ones, serves it.
    "zh": _ENGLISH,
    "ja": _ENGLISH,
    "ko": _ENGLISH,
}


def multilingual() -> LanguageData:
    """The default when no language is given: every language's data at once.

    Month names and ordinal words stay German-only: in English "in 2019. March was cold"
    ends a sentence, so treating "<number>. <Month>" as a date everywhere would cost more
    than it saves.
    """
    parts = [LANGUAGES[code] for code in ("en", "de", "es", "fr", "it")]
    return LanguageData(
        soft_marks=LATIN_MARKS,
        hard_marks=CJK_MARKS | OTHER_HARD_MARKS,
        abbreviations=frozenset().union(*(p.abbreviations for p in parts)),
        titles=frozenset().union(*(p.titles for p in parts)),
        starters=frozenset().union(*(p.starters for p in parts)),
        months=_DE_MONTHS,
        ordinal_words=_DE_ORDINAL_WORDS,
    )
