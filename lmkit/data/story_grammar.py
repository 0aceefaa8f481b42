"""One grammar that both writes the story world's sentences and checks them.

Introduced in chapter 2 (and used again in chapter 9 to grade a trained model's samples). A
sentence is a :class:`Template` with typed slots, written once in English and once in Chinese::

    "{S} saw {anp.a} {where.in}."   /   "{S}在{where.in}看见了{anp.a}。"

``{anp.a}`` means "an entry of type ANP (an animal, maybe with a colour), in its ``a`` form"
(``"a white puppy"`` / ``"一只白色的小狗"``). ``{S}`` is the subject: a name, a pronoun or a family
member, and ``<was/was/were>`` picks the verb form that agrees with it (he / I / they), as
``{poss}`` picks his / her / my / our / their. The generator fills the slots; the checker reads
the same pieces and matches a sentence against every template, trying each slot's words with a
character trie. Because both sides read one definition they cannot drift apart, and the checker
accepts exactly the sentences the templates can produce (for every combination of words, not
only the ones the story plans happen to choose).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple, Protocol

from lmkit.data.story_lexicon import OPINION_CATEGORIES, TYPES
from lmkit.errors import ConfigError, InputError

LANGS = ("en", "zh")
PERSONS = ("m", "f", "i", "we", "they")  # he/she, he/she, I, we, they
SENTENCE_KINDS = ("story", "sentiment", "question", "summary")  # kinds that are whole sentences

Segment = tuple[str, "str | None", "str | None"]  # text, entity label, top-level slot name

# Pronouns by language, case and person. Chinese has one form for subject and object, and two
# plurals: 他们 (mixed or male groups) and 她们 (all-female groups).
PRONOUNS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "subj": {"m": ("he",), "f": ("she",), "i": ("I",), "we": ("we",), "they": ("they",)},
        "obj": {"m": ("him",), "f": ("her",), "i": ("me",), "we": ("us",), "they": ("them",)},
        "poss": {"m": ("his",), "f": ("her",), "i": ("my",), "we": ("our",), "they": ("their",)},
    },
    "zh": {
        "subj": {
            "m": ("他",),
            "f": ("她",),
            "i": ("我",),
            "we": ("我们",),
            "they": ("他们", "她们"),
        },
        "obj": {
            "m": ("他",),
            "f": ("她",),
            "i": ("我",),
            "we": ("我们",),
            "they": ("他们", "她们"),
        },
        "poss": {
            "m": ("他的",),
            "f": ("她的",),
            "i": ("我的",),
            "we": ("我们的",),
            "they": ("他们的", "她们的"),
        },
    },
}
PAIR_JOIN = {"en": " and ", "zh": "和"}

# A slot's type defaults to the one named after the slot (digits stripped); "@kind" means "any
# phrase template of that kind" (a clause inside the sentence).
_DEFAULT_TYPES = {
    "S": "SUBJ", "O": "OBJREF", "N": "NAMEREF", "time": "TIME", "timef": "TIME_END",
    "seq": "SEQ", "place": "PLACE", "where": "IN_PLACE", "shop": "SHOP", "city": "CITY",
    "org": "ORG", "anp": "ANP", "aact": "ANIMAL_ACT", "aadj": "ANIMAL_ADJ", "food": "FOOD",
    "count": "COUNT", "fruit": "FRUIT", "veg": "VEG", "drink": "DRINK", "dish": "DISH",
    "thing": "THING", "animal": "ANIMAL", "habit": "HABIT", "num": "NUM", "age": "AGE",
    "role": "ROLE", "act": "ACT", "feel": "FEEL", "deg": "DEG", "weather": "WEATHER", "spot": "SPOT", "vehicle": "LOCAL_VEHICLE",
    "reason": "@reason", "like": "LIKE", "adj": "ADJ",
}  # fmt: skip
REF_TYPES = ("SUBJ", "OBJREF", "NAMEREF")
_TOKEN = re.compile(r"\{(\w+)(?:\.(\w+))?\}|<([^<>]+)>")


class Ref(Protocol):
    """What a slot filled by a person must provide (see ``lmkit.data.story_world.Mention``)."""

    person: str
    plural_index: int

    def segments(self, lang: str, case: str) -> list[tuple[str, str | None]]: ...


@dataclass(frozen=True)
class Phrase:
    """A clause that fills a phrase slot, e.g. the reason after "because"."""

    tid: str
    bindings: Mapping[str, Any]


@dataclass(frozen=True)
class Template:
    """A sentence (or clause) pattern in both languages with typed slots.

    ``persons`` lists the subject persons it allows (empty when it has no subject); ``qa``
    pairs a question template with the slot that answers it.
    """

    id: str
    kind: str
    en: str
    zh: str
    types: Mapping[str, str]
    persons: tuple[str, ...]
    qa: tuple[tuple[str, str], ...] = ()
    base: str = ""


TEMPLATES: dict[str, Template] = {}


def _t(
    tid: str,
    en: str,
    zh: str,
    kind: str,
    persons: Sequence[str] | None,
    pre: str,
    qa: Sequence[tuple[str, ...]],
    **types: str,
) -> None:
    """Register a template, plus copies that start with a time ("+time") or "after that" ("+seq")."""
    variants = [(tid, en, zh)]
    if "t" in pre:
        variants.append((tid + "+time", "{time}, " + en, "{time}，" + zh))
    if "s" in pre:
        variants.append((tid + "+seq", "{seq}, " + en, "{seq}，" + zh))
    for vid, ven, vzh in variants:
        names = [m.group(1) for m in _TOKEN.finditer(ven) if m.group(1)]
        slot_types = {
            n: types.get(n, _DEFAULT_TYPES.get(n.rstrip("0123456789"), "")) for n in names
        }
        personal = "S" in names or "<" in ven or "{poss}" in ven
        allowed = tuple(PERSONS if persons is None else persons) if personal else ()
        TEMPLATES[vid] = Template(vid, kind, ven, vzh, slot_types, allowed, tuple(qa), tid)


# ---------------------------------------------------------------- the templates
# One template per line: id | English | Chinese | options. Options: pre=t/s/ts (also register
# copies that open with "{time}, " / "{seq}, "), persons=mfiwt (he, she, I, we, they; default all
# five when there is a subject), slot=TYPE (a type other than the slot's default) and
# qa=question:answer_slot,… (questions this sentence answers, for extractive QA).
# Story sentences.
_STORY = """
age              | {S} <is/am/are> {age} years old.                   | {S}今年{age}岁。 | persons=mfi qa=q_age:age
role             | {S} <is/am/are> {role.a}.                          | {S}是{role.a}。 | persons=mfi
role_at          | {S} <is/am/are> {role.a} at {org}.                 | {S}是{org}的{role}。 | persons=mfi org=WORK_ORG qa=q_work:org
live             | {S} <lives/live> in {city}.                        | {S}住在{city}。 | qa=q_live:city
work             | {S} <works/work> at {org}.                         | {S}在{org}工作。 | org=WORK_ORG qa=q_work:org
study            | {S} <studies/study> at {org}.                      | {S}在{org}上学。 | org=SCHOOL_ORG
born             | {S} <was/was/were> born in {city}.                 | {S}出生在{city}。 | persons=mfi qa=q_born:city
friends          | {N} and {N2} are good friends.                     | {N}和{N2}是好朋友。
pet              | {S} <has/have> {anp.a}.                            | {S}有{anp.a}。
org_city         | {org} is in {city}.                                | {org}在{city}。 | qa=q_org_city:city
like_food        | {S} <likes/like> to eat {food.pl}.                 | {S}喜欢吃{food}。
dislike_food     | {S} <does/do> not like to eat {food.pl}.           | {S}不喜欢吃{food}。
like_drink       | {S} <likes/like> to drink {drink}.                 | {S}喜欢喝{drink}。
like_act         | {S} <likes/like> to {act.inf}.                     | {S}喜欢{act.base}。
fruit_kind       | {fruit.pl} are a kind of fruit.                    | {fruit}是一种水果。
veg_kind         | {veg.pl} are a kind of vegetable.                  | {veg}是一种蔬菜。
habit_eat        | {habit}, {S} <eats/eat> {food.a}.                  | {S}{habit}都吃{food.a}。
habit_buy        | {S} often <buys/buy> {count.pl} {shop.in}.         | {S}常常在{shop.in}买{count}。
want_act         | {S} <wants/want> to {act.inf} tomorrow.            | {S}明天想{act.base}。
go               | {S} went to {place}.                               | {S}去了{place}。 | pre=ts qa=q_where_go:place
go_with          | {S} went to {place} with {O}.                      | {S}和{O}一起去了{place}。 | pre=ts qa=q_where_go:place,q_go_with:O
go_city          | {S} went to {city}.                                | {S}去了{city}。 | pre=t qa=q_where_go:city
go_by            | {S} took {vehicle} to {place}.                     | {S}坐{vehicle}去了{place}。 | pre=ts qa=q_where_go:place
travel           | {S} took {vehicle} to {city}.                      | {S}坐{vehicle}去了{city}。 | pre=t vehicle=TRAVEL_VEHICLE qa=q_where_go:city
go_org           | {S} went to {org}.                                 | {S}去了{org}。 | pre=ts org=VISIT_ORG qa=q_where_go:org
home             | {S} went home.                                     | {S}回家了。 | pre=ts
home_by          | {S} took {vehicle} home.                           | {S}坐{vehicle}回家了。 | pre=ts
home_with        | {S} went home with {O}.                            | {S}和{O}一起回家了。 | pre=ts
stay             | {S} stayed at home.                                | {S}待在家里。 | pre=ts
visit            | {S} visited {O}.                                   | {S}去看望了{O}。 | pre=ts
visit_city       | {S} visited {O} in {city}.                         | {S}去{city}看望了{O}。 | pre=t
see              | {S} saw {anp.a} {where.in}.                        | {S}在{where.in}看见了{anp.a}。 | pre=ts qa=q_see_at:anp
see_many         | {S} saw {num} {animal.pl} {where.in}.              | {S}在{where.in}看见了{num}{animal.cn}。 | pre=ts qa=q_how_many_see:num
see_there        | {S} saw {anp.a} there.                             | {S}在那里看见了{anp.a}。 | pre=s qa=q_see:anp
anim_act         | {anp.the} {aact}.                                  | {anp.the}{aact}。 | pre=s
anim_adj         | {anp.the} was {aadj}.                              | {anp.the}很{aadj}。
anim_adj_very    | {anp.the} was very {aadj}.                         | {anp.the}非常{aadj}。
feed             | {S} gave {anp.the} some {food.pl}.                 | {S}给了{anp.the}一些{food}。 | pre=s
play_anim        | {S} played with {anp.the} for a while.             | {S}跟{anp.the}玩了一会儿。 | pre=s
photo_anim       | {S} took a photo of {anp.the}.                     | {S}给{anp.the}拍了一张照片。 | pre=s
eat              | {S} ate {food.a}.                                  | {S}吃了{food.a}。 | pre=ts qa=q_eat:food
eat_at           | {S} ate {food.a} {where.in}.                       | {S}在{where.in}吃了{food.a}。 | pre=ts qa=q_eat:food
eat_org          | {S} ate {food.a} at {org}.                         | {S}在{org}吃了{food.a}。 | pre=t org=EAT_ORG qa=q_eat:food
drink            | {S} drank {drink.a}.                               | {S}喝了{drink.a}。 | pre=ts qa=q_drink:drink
buy_count        | {S} bought {num} {count.pl} {shop.in}.             | {S}在{shop.in}买了{num}{count.cn}。 | pre=ts qa=q_how_many:num
buy_count_org    | {S} bought {num} {count.pl} at {org}.              | {S}在{org}买了{num}{count.cn}。 | pre=t org=SHOP_ORG qa=q_how_many:num
buy_some         | {S} bought {num} {count.pl}.                       | {S}买了{num}{count.cn}。 | pre=ts qa=q_how_many:num
buy_thing        | {S} bought {thing.a}.                              | {S}买了{thing.a}。 | pre=ts qa=q_buy:thing
give_food        | {S} gave {O} {food.a}.                             | {S}给了{O}{food.a}。 | pre=s
cook             | {S} cooked {dish.a} for {O}.                       | {S}给{O}做了{dish.a}。 | pre=ts
share            | {S} shared {food.a} with {O}.                      | {S}和{O}分享了{food.a}。 | pre=s
buy              | {S} bought {thing.a} {shop.in}.                    | {S}在{shop.in}买了{thing.a}。 | pre=ts qa=q_buy:thing
buy_org          | {S} bought {thing.a} at {org}.                     | {S}在{org}买了{thing.a}。 | pre=t org=SHOP_ORG qa=q_buy:thing
lose             | {S} lost {poss} {thing}.                           | {S}把{thing}弄丢了。 | pre=ts qa=q_lose:thing
look             | {S} looked for {poss} {thing} everywhere.          | {S}到处找{thing}。
find             | {S} found {poss} {thing} {spot}.                   | {S}在{spot}找到了{thing}。 | pre=s qa=q_where_find:spot
give_thing       | {S} gave {O} {thing.a}.                            | {S}送给{O}{thing.a}。 | pre=ts qa=q_give:thing
help_look        | {S} helped {O} look for it.                        | {S}帮{O}一起找。 | pre=s
help             | {S} helped {O}.                                    | {S}帮助了{O}。 | pre=ts
thank            | {S} said thank you to {O}.                         | {S}对{O}说谢谢。 | pre=s
thank_help       | {S} thanked {O} for the help.                      | {S}感谢了{O}的帮助。 | pre=s
thank_gift       | {S} gave {O} {food.a} to say thank you.            | {S}给了{O}{food.a}，表示感谢。 | pre=s
act_at           | {S} {act.past} {where.in}.                         | {S}在{where.in}{act.past}。 | pre=ts qa=q_do_at:act
act_with         | {S} {act.past} with {O}.                           | {S}和{O}一起{act.past}。 | pre=ts
act              | {S} {act.past}.                                    | {S}{act.past}。 | pre=ts
watch_about      | {S} watched a movie about {animal.a}.              | {S}看了一部关于{animal}的电影。 | pre=ts
read_about       | {S} read a book about {animal.a}.                  | {S}看了一本关于{animal}的书。 | pre=ts
read_city        | {S} read a book about {city}.                      | {S}看了一本关于{city}的书。 | pre=ts
act_together     | {S} {act.past} together.                           | {S}一起{act.past}。 | pre=ts persons=wt
meet             | {S} met {O} {where.in}.                            | {S}在{where.in}遇到了{O}。 | pre=ts qa=q_meet:O
call             | {S} called {O}.                                    | {S}给{O}打了电话。 | pre=ts
feel             | {S} <was/was/were> {feel}.                         | {S}很{feel}。 | pre=ts
feel_deg         | {S} <was/was/were> {deg} {feel}.                   | {S}{deg}{feel}。 | pre=ts
feel_no_more     | {S} <was/was/were> not {feel} anymore.             | {S}不{feel}了。 | pre=ts
feel_because     | {S} <was/was/were> {feel} because {reason}.        | {S}很{feel}，因为{reason}。 | qa=q_why:reason
feel_deg_because | {S} <was/was/were> {deg} {feel} because {reason}.  | {S}{deg}{feel}，因为{reason}。 | qa=q_why:reason
because_feel     | because {reason}, {S} <was/was/were> {feel}.       | 因为{reason}，所以{S}很{feel}。 | qa=q_why:reason
because_feel_deg | because {reason}, {S} <was/was/were> {deg} {feel}. | 因为{reason}，所以{S}{deg}{feel}。 | qa=q_why:reason
fun_at           | {S} had a lot of fun {where.in}.                   | {S}在{where.in}玩得很开心。 | pre=ts
fun_with         | {S} had a good time with {O}.                      | {S}和{O}玩得很开心。 | pre=ts
feel_again       | {S} <was/was/were> {feel} again.                   | {S}又{feel}起来了。 | pre=ts
weather          | {weather}.                                         | {weather}。
weather_when     | {weather} {timef}.                                 | {timef}{weather}。
weather_city     | {weather} in {city} {timef}.                       | {timef}{city}{weather}。
rain_stay        | because {weather}, {S} stayed at home.             | 因为{weather}，所以{S}待在家里。
rain_no_go       | because {weather}, {S} did not go to {place}.      | 因为{weather}，所以{S}没有去{place}。
sun_go           | because {weather}, {S} went to {place}.            | 因为{weather}，所以{S}去了{place}。 | qa=q_where_go:place
umbrella         | because {weather}, {S} took an umbrella.           | 因为{weather}，所以{S}带了一把伞。
"""

# Reasons: the clause after because / 因为.
_REASONS = """
r_found     | {S} found {poss} {thing}                          | {S}找到了{poss}{thing}
r_lost      | {S} lost {poss} {thing}                           | {S}把{thing}弄丢了
r_gift      | {S} gave {O} {thing.a}                            | {S}送给{O}{thing.a}
r_saw       | {S} saw {anp.a}                                   | {S}看见了{anp.a}
r_sleep     | {S} did not sleep well last night                 | {S}昨天晚上没有睡好
r_breakfast | {S} did not eat breakfast                         | {S}没有吃早饭
r_win       | {S} won the game                                  | {S}赢了比赛
r_lose_game | {S} lost the game                                 | {S}输了比赛
r_bus       | {S} missed the bus                                | {S}没有赶上公交车
r_exam      | {S} did well in the exam                          | {S}考试考得很好
r_exam_bad  | {S} did badly in the exam                         | {S}考试没考好
r_walk      | {S} walked for a long time                        | {S}走了很久
r_work      | {S} worked all day                                | {S}工作了一整天
r_party     | {S} <was/was/were> going to have a birthday party | {S}要过生日了
r_cute      | {anp.the} was very cute                           | {anp.the}非常可爱
r_letter    | {S} got a letter from {O}                         | {S}收到了{O}的信
r_weather   | {weather}                                         | {weather}
r_dark      | it was dark                                       | 天黑了
r_noise     | {S} heard a strange noise                         | {S}听到了奇怪的声音
r_nothing   | {S} had nothing to do                             | {S}没有事情做
r_moved     | {S} moved to {city}                               | {S}搬到了{city}
r_wait      | {S} waited for {O} for a long time                | {S}等了{O}很久
r_bought    | {S} bought {thing.a}                              | {S}买了{thing.a}
r_treat     | {S} gave {O} {food.a}                             | {S}给了{O}{food.a}
r_see_again | {S} saw {O} again                                 | {S}又见到了{O}
r_ill       | {S} <was/was/were> ill                            | {S}生病了
"""

# Questions (for extractive QA).
_QUESTIONS = """
q_age        | how old is {S}?                    | {S}今年几岁？ | persons=mf
q_live       | where does {S} live?               | {S}住在哪里？ | persons=mf
q_work       | where does {S} work?               | {S}在哪里工作？ | persons=mf
q_born       | where was {S} born?                | {S}出生在哪里？ | persons=mf
q_where_go   | where did {S} go?                  | {S}去了哪里？ | persons=mf
q_go_with    | who did {S} go to {place} with?    | {S}和谁一起去了{place}？ | persons=mf
q_see_at     | what did {S} see {where.in}?       | {S}在{where.in}看见了什么？ | persons=mf
q_see        | what did {S} see?                  | {S}看见了什么？ | persons=mf
q_eat        | what did {S} eat?                  | {S}吃了什么？ | persons=mf
q_drink      | what did {S} drink?                | {S}喝了什么？ | persons=mf
q_how_many   | how many {count.pl} did {S} buy?   | {S}买了几{count.cn}？ | persons=mf
q_how_many_see | how many {animal.pl} did {S} see {where.in}? | {S}在{where.in}看见了几{animal.cn}？ | persons=mf
q_buy        | what did {S} buy?                  | {S}买了什么？ | persons=mf
q_lose       | what did {S} lose?                 | {S}把什么弄丢了？ | persons=mf
q_where_find | where did {S} find {poss} {thing}? | {S}在哪里找到了{thing}？ | persons=mf
q_give       | what did {S} give {O}?             | {S}送给了{O}什么？ | persons=mf
q_do_at      | what did {S} do {where.in}?        | {S}在{where.in}做了什么？ | persons=mf
q_meet       | who did {S} meet {where.in}?       | {S}在{where.in}遇到了谁？ | persons=mf
q_why        | why was {S} {feel}?                | {S}为什么很{feel}？ | persons=mf
q_org_city   | where is {org}?                    | {org}在哪里？
"""

# One-line summaries.
_SUMMARIES = """
sum_see       | {S} went to {place} and saw {anp.a}.                  | {S}去{place}看见了{anp.a}。
sum_act       | {S} went to {place} and {act.past}.                   | {S}去{place}{act.past}。
sum_lost      | {S} lost {poss} {thing} but found it {spot}.          | {S}把{thing}弄丢了，后来在{spot}找到了。
sum_work      | {S} <works/work> at {org} in {city}.                  | {S}在{city}的{org}工作。 | org=WORK_ORG
sum_like      | {S} <likes/like> {food.pl} very much.                 | {S}非常喜欢吃{food}。
sum_trip      | {S} went to {city} and visited {O}.                   | {S}去{city}看望了{O}。
sum_rain      | because {weather}, {S} stayed at home and {act.past}. | 因为{weather}，所以{S}待在家里{act.past}。
sum_shop      | {S} went to {shop} and bought {thing.a}.              | {S}去{shop}买了{thing.a}。
sum_shop_food | {S} went to {shop} and bought {num} {count.pl}.       | {S}去{shop}买了{num}{count.cn}。
sum_together  | {S} {act.past} together {where.in}.                   | {S}一起在{where.in}{act.past}。 | persons=wt
"""

_PERSON_LETTERS = {"m": "m", "f": "f", "i": "i", "w": "we", "t": "they"}


def _load(table: str, kind: str) -> None:
    for line in table.strip().splitlines():
        tid, en, zh, *rest = (cell.strip() for cell in line.split("|"))
        options = dict(opt.split("=", 1) for opt in (rest[0].split() if rest else []))
        persons = options.pop("persons", None)
        qa = [tuple(pair.split(":")) for pair in options.pop("qa", "").split(",") if pair]
        _t(tid, en, zh, kind, persons and [_PERSON_LETTERS[c] for c in persons],
           options.pop("pre", ""), qa, **options)  # fmt: skip


for _table, _kind in (
    (_STORY, "story"),
    (_REASONS, "reason"),
    (_QUESTIONS, "question"),
    (_SUMMARIES, "summary"),
):
    _load(_table, _kind)

# ---------------------------------------------------------------- opinions (sentiment)
# Written once with {c} for the category (story, music, food, drink, place). An adjective phrase
# "ap" is positive or negative as its adjective is, flipped by not / 不; see StoryWorld.sentiment.
_OPINIONS = """
ap_{c}_plain     | {adj}                             | 很{adj}                  | adj=ADJ_{c}
ap_{c}_deg       | {deg} {adj}                       | {deg}{adj}               | adj=ADJ_{c}
ap_{c}_quite     | quite {adj}                       | 挺{adj}的                | adj=ADJ_{c}
ap_{c}_too       | too {adj}                         | 太{adj}了                | adj=ADJ_{c}
ap_{c}_not       | not {adj}                         | {adj.neg}                | adj=ADJ_{c}
ap_{c}_notvery   | not very {adj}                    | 不太{adj}                | adj=ADJ_{c}
s_{c}            | {t} was {ap}.                     | {t}{ap}。                | t=TARGET_{c} ap=@ap_{c}
s_{c}_but        | {t} was {ap} but {ap2}.           | {t}{ap}，但是{ap2}。     | t=TARGET_{c} ap=@ap_{c} ap2=@ap_{c}
s_{c}_and        | {t} was {ap} and {ap2}.           | {t}{ap}，也{ap2}。       | t=TARGET_{c} ap=@ap_{c} ap2=@ap_{c}
s_{c}_like       | {S} {like} {t}.                   | {S}{like}{t}。           | t=TARGET_{c}
s_{c}_but_like   | {t} was {ap}, but {S} {like} it.  | {t}{ap}，但是{S}{like}。 | t=TARGET_{c} ap=@ap_{c}
"""
for _c in OPINION_CATEGORIES:
    _rows = _OPINIONS.replace("{c}", _c)
    _load("\n".join(r for r in _rows.splitlines() if r.startswith("ap_")), "ap_" + _c)
    _load("\n".join(r for r in _rows.splitlines() if r.startswith("s_")), "sentiment")


def template(tid: str) -> Template:
    """The template called ``tid``; a clear error for an unknown id."""
    if tid not in TEMPLATES:
        raise ConfigError(f"unknown template id {tid!r}; see story_grammar.TEMPLATES for the ids.")
    return TEMPLATES[tid]


def pieces(tid: str, lang: str) -> list[tuple[str, ...]]:
    """A template as pieces: ("lit", text), ("slot", name, form), ("verb", forms…), ("poss",)."""
    _check_lang(lang)
    return _pieces(template(tid).en if lang == "en" else template(tid).zh)


@cache
def _pieces(text: str) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            out.append(("lit", text[pos : m.start()]))
        if m.group(3):
            out.append(("verb", *m.group(3).split("/")))
        elif m.group(1) == "poss":
            out.append(("poss",))
        else:
            out.append(("slot", m.group(1), m.group(2) or "n"))
        pos = m.end()
    if pos < len(text):
        out.append(("lit", text[pos:]))
    return out


def slot_order(tid: str) -> list[str]:
    """The slot names of a template in English reading order (the order mentions are decided)."""
    return [p[1] for p in pieces(tid, "en") if p[0] == "slot"]


def _verb_form(forms: Sequence[str], person: str) -> str:
    if person in ("m", "f"):
        return forms[0]
    if person == "i":
        return forms[1]
    return forms[-1]


def render(tid: str, bindings: Mapping[str, Any], lang: str) -> list[Segment]:
    """Fill template ``tid`` with ``bindings`` (entries, refs, phrases) as text segments.

    Whole sentences come back with their first letter capitalized (English).
    """
    _check_lang(lang)
    missing = [name for name in slot_order(tid) if name not in bindings]
    if missing:
        raise InputError(f"template {tid!r} needs bindings for {missing}.")
    segments = _render(tid, bindings, lang, None)
    if lang == "en" and TEMPLATES[tid].kind in SENTENCE_KINDS:
        text, label, slot = segments[0]
        segments[0] = (text[:1].upper() + text[1:], label, slot)
    return segments


def _render(tid: str, bindings: Mapping[str, Any], lang: str, top: str | None) -> list[Segment]:
    template = TEMPLATES[tid]
    subject = bindings.get("S")
    out: list[Segment] = []
    for piece in pieces(tid, lang):
        kind = piece[0]
        if kind == "lit":
            out.append((piece[1], None, top))
        elif kind == "verb":
            out.append((_verb_form(piece[1:], subject.person), None, top))
        elif kind == "poss":
            forms = PRONOUNS[lang]["poss"][subject.person]
            out.append((forms[min(subject.plural_index, len(forms) - 1)], None, top))
        else:
            name, form = piece[1], piece[2]
            value, slot = bindings[name], top or name
            if isinstance(value, Phrase):
                out.extend(_render(value.tid, value.bindings, lang, slot))
            elif template.types[name] in REF_TYPES:
                case = "obj" if template.types[name] == "OBJREF" else "subj"
                out.extend((text, label, slot) for text, label in value.segments(lang, case))
            else:
                out.append((value.form(lang, form), value.label, slot))
    return out


# ---------------------------------------------------------------- the checker
class _Trie:
    """A set of strings that reports every position where one of them can end."""

    def __init__(self, words: Sequence[str]) -> None:
        self.root: dict = {}
        for word in words:
            node = self.root
            for ch in word:
                node = node.setdefault(ch, {})
            node[None] = True

    def ends(self, s: str, i: int) -> list[int]:
        out, node, n = [], self.root, len(s)
        while True:
            if None in node:
                out.append(i)
            if i >= n or s[i] not in node:
                return out
            node = node[s[i]]
            i += 1


class _PhraseSet:
    """All variants of all phrase templates of one kind, matched as a unit."""

    def __init__(self, variants: list[list[tuple]]) -> None:
        self.variants = variants

    def ends(self, s: str, i: int) -> list[int]:
        out: list[int] = []
        for variant in self.variants:
            out.extend(_all_ends(variant, 0, s, i))
        return out


def _all_ends(compiled: list[tuple], k: int, s: str, i: int) -> list[int]:
    if k == len(compiled):
        return [i]
    kind, payload, _ = compiled[k]
    if kind == "lit":
        return _all_ends(compiled, k + 1, s, i + len(payload)) if s.startswith(payload, i) else []
    out: list[int] = []
    for j in payload.ends(s, i):
        out.extend(_all_ends(compiled, k + 1, s, j))
    return out


def _search(compiled: list[tuple], k: int, s: str, i: int, spans: list) -> bool:
    """Depth-first: can pieces k… cover exactly s[i:]? Records the slot spans on success."""
    if k == len(compiled):
        return i == len(s)
    kind, payload, name = compiled[k]
    if kind == "lit":
        return s.startswith(payload, i) and _search(compiled, k + 1, s, i + len(payload), spans)
    for j in payload.ends(s, i):
        spans.append((name, i, j))
        if _search(compiled, k + 1, s, j, spans):
            return True
        spans.pop()
    return False


def ref_strings(type_name: str, lang: str, person: str | None) -> list[str]:
    """Every string a person slot may hold: names, family members, pronouns, pairs."""
    names = TYPES["NAME"]
    if type_name == "NAMEREF":
        return [e.form(lang) for e in names]
    if type_name == "OBJREF":
        pronouns = [p for forms in PRONOUNS[lang]["obj"].values() for p in forms]
        return [e.form(lang) for e in names + TYPES["FAMILY"]] + pronouns
    out = list(PRONOUNS[lang]["subj"][person])
    if person in ("m", "f"):
        out += [e.form(lang) for e in names + TYPES["FAMILY"] if e.attrs["gender"] == person]
    elif person == "we":
        out += [
            f"{e.en['n']} and I" if lang == "en" else f"我和{e.zh['n']}" for e in TYPES["FAMILY"]
        ]
    elif person == "they":
        out += [
            a.form(lang) + PAIR_JOIN[lang] + b.form(lang)
            for a in names
            for b in names
            if a is not b
        ]
    return out


def _words(type_name: str, form: str, lang: str, person: str | None, capital: bool) -> _Trie:
    if type_name not in REF_TYPES and type_name != "poss":
        person = None  # only person slots depend on the person: share one trie otherwise
    return _words_cached(type_name, form, lang, person, capital)


@cache
def _words_cached(type_name: str, form: str, lang: str, person: str | None, capital: bool) -> _Trie:
    if type_name in REF_TYPES:
        words = ref_strings(type_name, lang, person)
    elif type_name == "poss":
        words = list(PRONOUNS[lang]["poss"][person])
    else:
        words = [e.form(lang, form) for e in TYPES[type_name]]
    if capital:
        words = [w[:1].upper() + w[1:] for w in words]
    return _Trie(words)


def _compile(tid: str, lang: str, person: str | None, top: bool) -> list[tuple]:
    template, out = TEMPLATES[tid], []
    for piece in pieces(tid, lang):
        first = top and lang == "en" and not out
        if piece[0] in ("lit", "verb"):
            text = piece[1] if piece[0] == "lit" else _verb_form(piece[1:], person)
            text = text[:1].upper() + text[1:] if first else text
            if out and out[-1][0] == "lit":
                text = out.pop()[1] + text
            out.append(("lit", text, None))
        elif piece[0] == "poss":
            out.append(("words", _words("poss", "n", lang, person, first), "poss"))
        else:
            type_name = template.types[piece[1]]
            if type_name.startswith("@"):
                out.append(("words", _phrase_set(type_name[1:], lang), piece[1]))
            else:
                out.append(("words", _words(type_name, piece[2], lang, person, first), piece[1]))
    return out


@cache
def _phrase_set(kind: str, lang: str) -> _PhraseSet:
    variants = [
        _compile(t.id, lang, person, top=False)
        for t in TEMPLATES.values()
        if t.kind == kind
        for person in (t.persons or (None,))
    ]
    return _PhraseSet(variants)


@cache
def _index(lang: str) -> dict[str, list[tuple[str, str | None, list[tuple], tuple[str, ...]]]]:
    """Compiled sentence variants grouped by their longest literal piece (a cheap pre-filter)."""
    index: dict[str, list] = {}
    for t in TEMPLATES.values():
        if t.kind not in SENTENCE_KINDS:
            continue
        for person in t.persons or (None,):
            compiled = _compile(t.id, lang, person, top=True)
            literals = tuple(p[1] for p in compiled if p[0] == "lit")
            key = max(literals, key=len)
            index.setdefault(key, []).append((t.id, person, compiled, literals))
    return index


class Parse(NamedTuple):
    """Which template matched, with which subject person, and the text of each top-level slot."""

    rule: str
    person: str | None
    slots: dict[str, str]


def _check_lang(lang: object, allowed: tuple[str, ...] = LANGS) -> None:
    if lang not in allowed:
        raise ConfigError(f"lang must be one of {', '.join(map(repr, allowed))}, got {lang!r}.")


def parse(sentence: str, lang: str) -> Parse | None:
    """Match one sentence against the grammar; ``None`` when no template produces it.

    Leading and trailing whitespace is ignored; everything else must match exactly (spaces,
    capital letters, punctuation). Introduced in chapter 2.
    """
    _check_lang(lang)
    if not isinstance(sentence, str):
        raise InputError(f"sentence must be a str, got {type(sentence).__name__}.")
    s = sentence.strip()
    if not s:
        return None
    for key, variants in _index(lang).items():
        if key not in s:
            continue
        for tid, person, compiled, literals in variants:
            if not all(lit in s for lit in literals):
                continue
            spans: list = []
            if _search(compiled, 0, s, 0, spans):
                return Parse(tid, person, {name: s[i:j] for name, i, j in spans})
    return None


def is_grammatical(sentence: str, lang: str) -> bool:
    """True when ``sentence`` is one the story world's grammar can produce. Introduced in chapter 2."""
    return parse(sentence, lang) is not None


_ENDS = {"en": ".!?", "zh": "。！？"}


def split_sentences(text: str, lang: str) -> list[str]:
    """Split text (e.g. a model's sample) into sentences, after . ! ? (English) or 。！？ (Chinese).

    Lines are split separately, whitespace is stripped, and an unfinished tail is kept as a
    last "sentence" so that a truncated sample counts as ungrammatical rather than vanishing.
    """
    _check_lang(lang)
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    marks = re.escape(_ENDS[lang])
    pattern = re.compile(f"[^{marks}]*[{marks}]|[^{marks}]+$")
    out = []
    for line in text.splitlines():
        out += [m.group().strip() for m in pattern.finditer(line) if m.group().strip()]
    return out


def check_templates() -> None:
    """Raise if a template names an unknown type or a form some entry of its type lacks."""
    for t in TEMPLATES.values():
        for lang in LANGS:
            for piece in pieces(t.id, lang):
                if piece[0] != "slot":
                    continue
                type_name = t.types.get(piece[1], "")
                if type_name in REF_TYPES:
                    continue
                if type_name.startswith("@"):
                    if not any(u.kind == type_name[1:] for u in TEMPLATES.values()):
                        raise ConfigError(f"{t.id}: no phrase templates of kind {type_name[1:]!r}.")
                    continue
                if type_name not in TYPES:
                    raise ConfigError(f"{t.id}: slot {piece[1]!r} has unknown type {type_name!r}.")
                for e in TYPES[type_name]:
                    if piece[2] not in (e.en if lang == "en" else e.zh):
                        raise ConfigError(f"{t.id}: {e.key!r} lacks {lang} form {piece[2]!r}.")
            if t.persons and "S" not in t.types and lang == "en":
                raise ConfigError(f"{t.id}: verb or possessive markers need an {{S}} slot.")


__all__ = [
    "LANGS",
    "PERSONS",
    "TEMPLATES",
    "Parse",
    "Phrase",
    "Template",
    "check_templates",
    "is_grammatical",
    "parse",
    "pieces",
    "render",
    "slot_order",
    "split_sentences",
    "template",
]
