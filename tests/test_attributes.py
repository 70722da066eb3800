"""The attribute vocabulary: moods and topics reach what items are about, by the words they say and
by meaning, and "like X" shares what X is."""

from dataclasses import replace

import numpy as np
import pytest

from convrec.chat.recommender import Recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.types import Needs
from convrec.data.catalog import Catalog
from convrec.data.documents import item_text
from convrec.data.loaders import load_catalog
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.rules import parse_rules
from convrec.retrieve.attributes import LIKENESS_WEIGHTS, Attributes
from convrec.retrieve.cf import ItemKNN
from convrec.retrieve.index import ItemIndex
from convrec.retrieve.sources import SOURCES, Query
from convrec.retrieve.sources.base import KNOWN_RATINGS
from convrec.retrieve.sources.builtin import moved_genres
from convrec.testing import HashEncoder, tiny_catalog

TAGS = {
    18: ("feel-good", "heartwarming"),  # Quiet Drama
    17: ("feel-good", "romantic"),  # Love in Paris
    10: ("serial killer", "dark"),  # The Cellar
    9: ("dark",),  # Night Terror
    15: ("space", "aliens"),  # Space Station
    23: ("aliens", "funny"),  # Alien Comedy
}


def tagged_recommender(changes: dict[int, dict] | None = None) -> Recommender:
    base = tiny_catalog()
    items = {i: replace(it, **{"tags": TAGS.get(i, ()), **(changes or {}).get(i, {})}) for i, it in base.items.items()}
    catalog = Catalog("tagged", items, base.interactions)
    encoder, ids = HashEncoder(), catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    cf = ItemKNN().fit(catalog.interactions, ids)
    return Recommender(catalog, index, cf, encoder, None, Settings(llm="none"))


def test_a_mood_reaches_the_tags_it_means_in_english_and_chinese():
    rec = tagged_recommender()
    for text in ("something uplifting after a rough week", "最近心情不好，来点治愈系的电影"):
        recs = rec.recommend(Session(), text, k=3).recs
        assert {r.item.item_id for r in recs[:2]} == {17, 18}, text  # the feel-good ones; neither says "uplifting"
        assert all("feel-good" in r.why for r in recs[:2])  # and the reason says which tag fits


def test_a_phrase_of_the_vocabulary_in_the_message_is_searched_whole():
    rec = tagged_recommender()
    assert rec.attributes.said("a thriller about a serial-killer") == ["serial killer"]
    turn = rec.recommend(Session(), "a movie about a serial killer", k=3)
    assert turn.recs[0].item.item_id == 10


def test_a_negated_word_is_no_keyword():
    u = parse_rules("light and silly, nothing serious", MOVIELENS_GENRES, now_year=2016)
    assert "serious" not in u.keywords
    u = parse_rules("a comedy, nothing with Jim Carrey", MOVIELENS_GENRES, now_year=2016)
    assert not {"jim", "carrey"} & set(u.keywords)


def test_like_x_shares_its_attributes_beside_its_genres():
    rec = tagged_recommender()
    rows = np.array([rec.index.position[i] for i in (23, 16)])
    liked = [rec.index.position[15]]  # Space Station: Sci-Fi, Action; tagged space, aliens
    alien_comedy, robot_dawn = rec.attributes.likeness(rows, liked, rec.encoder).tolist()
    # Robot Dawn shares more genres (Jaccard 0.5 against 0.33); Alien Comedy shares the aliens too
    assert alien_comedy > robot_dawn > 0


def test_like_x_but_y_takes_the_y_that_is_about_what_x_is_about():
    # Alien Comedy shares no genre with Space Station but its aliens; Funny Business shares both its genres
    rec = tagged_recommender({23: {"genres": ("Comedy",)}, 19: {"genres": ("Comedy", "Sci-Fi", "Action")}})
    for text in ("like Space Station but funnier", "想看像《Space Station》那样的，但要更搞笑一点"):
        turn = rec.recommend(Session(), text, k=3)
        assert turn.needs.liked == (15,) and turn.needs.prefer_genres == ("Comedy",), text
        assert turn.recs[0].item.item_id == 23, text  # the comedy about aliens first


def test_a_bare_title_names_that_film_before_the_films_about_its_word():
    rec = tagged_recommender({18: {"title": "Aliens", "text": "A quiet family drama."}})
    first, *rest = rec.recommend(Session(), "Aliens", k=3).recs
    assert first.item.item_id == 18  # the film called so, though it is about something else
    assert {r.item.item_id for r in rest} == {15, 23}  # then the films about aliens
    assert 18 not in [r.item.item_id for r in rec.recommend(Session(), "a film about aliens", k=3).recs]


def test_no_attributes_no_about_column():
    rec = Recommender(*_plain(), None, Settings(llm="none"))
    assert len(rec.attributes) == 0
    turn = rec.recommend(Session(), "something uplifting", k=3)
    assert turn.recs and SOURCES["about"].column(rec.library, Query(turn.needs)) is None


def _plain():
    catalog, encoder = tiny_catalog(), HashEncoder()
    ids = catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    return catalog, index, ItemKNN().fit(catalog.interactions, ids), encoder


def test_a_rare_topic_outweighs_a_common_one_said_beside_it():
    from convrec.core.types import Item
    from convrec.retrieve.attributes import Attributes

    items = [Item(i, f"F{i}", tags=("friends",)) for i in range(1, 9)]
    items += [Item(9, "Boat", tags=("submarine",)), Item(10, "Both", tags=("submarine", "friends"))]
    about = Attributes.from_items(items, np.zeros((len(items), 0))).about(["friends", "submarine"], HashEncoder())
    assert about is not None
    assert about[9] == 1.0 and about[8] > 0.7 > 0.3 > about[0] > 0  # the rare word weighs more than the common


def test_a_title_word_alone_does_not_make_a_film_about_it():
    rec = tagged_recommender(  # The Cellar: its title says cellar, its record a farmhouse; Night Terror has one
        {10: {"tags": (), "text": "A family moves into an old farmhouse."}, 9: {"tags": ("cellar", "basement")}}
    )
    turn = rec.recommend(Session(), "a film set in a cellar", k=3)
    assert turn.recs[0].item.item_id == 9 and 10 not in [r.item.item_id for r in turn.recs[:2]]


def test_a_message_that_is_a_title_still_finds_it():
    rec = tagged_recommender(
        {10: {"tags": (), "text": "A family moves into an old farmhouse."}, 9: {"tags": ("cellar",)}}
    )
    assert 10 in [r.item.item_id for r in rec.recommend(Session(), "The Cellar", k=3).recs]


def test_a_vocabulary_phrase_with_small_words_is_searched_whole():
    from convrec.retrieve.sources import about_words

    rec = tagged_recommender({18: {"tags": ("coming of age",)}, 22: {"tags": ("old age", "coming out")}})
    turn = rec.recommend(Session(), "a coming of age story", k=3)
    words = about_words(rec.library, turn.needs)
    assert "coming of age" in words and not {"coming", "age"} & set(words)  # "of" is no keyword, the phrase is
    assert turn.recs[0].item.item_id == 18
    negated = rec.recommend(Session(), "a drama, nothing coming of age", k=3).needs
    assert "coming of age" not in about_words(rec.library, negated)


def test_a_mood_reaches_the_plot_keywords_it_means():
    # Ranch Feud (a western drama) is keyworded neo noir, Funny Business (a romantic comedy here) soulmates,
    # Dusty Trail (a western) terminal illness, Giggles (a comedy) anime (治愈系, iyashikei, is healing anime): none
    # says "dark", "romantic", "sad" or "heartwarming"; Silly Summer, the other romantic comedy, has no tag
    rec = tagged_recommender(
        {
            22: {"tags": ("neo noir",)},
            19: {"tags": ("soulmates",), "genres": ("Comedy", "Romance")},
            12: {"tags": ("terminal illness",)},
            21: {"tags": ("anime",)},
        }
    )
    for text, item in (
        ("dark and gritty", 22),
        ("黑暗一点的电影", 22),
        ("a tearjerker", 12),
        ("催泪的电影", 12),
        ("治愈系的", 21),
    ):
        assert item in [r.item.item_id for r in rec.recommend(Session(), text, k=3).recs], text
    for text in ("something romantic", "浪漫的电影"):
        assert {r.item.item_id for r in rec.recommend(Session(), text, k=2).recs} == {17, 19}, text


def test_a_moods_genres_weigh_half_where_its_words_reach_attributes():
    from convrec.core.types import Needs

    pref, mood = SOURCES["pref"], Needs(prefer_genres=("Drama",), about=("tearjerker",))
    half, full = pref.weight / 2, pref.weight
    assert pref.turn_weight({}, Query(mood, columns=frozenset({"pref", "about"}))) == half
    assert pref.turn_weight({}, Query(mood, columns=frozenset({"pref"}))) == full  # no attribute means it
    liked = Needs(liked=(15,), prefer_genres=("Comedy",))  # "like X but funnier": the likeness's own weight
    assert pref.turn_weight({}, Query(liked, columns=frozenset({"pref", "about"}))) == full


def test_a_chinese_topic_reaches_the_films_keyworded_with_it():
    rec = tagged_recommender({16: {"tags": ("mars",)}, 3: {"tags": ("wall street", "stock market")}})
    assert rec.recommend(Session(), "关于火星的电影", k=3).recs[0].item.item_id == 16
    assert rec.recommend(Session(), "想看华尔街题材的", k=3).recs[0].item.item_id == 3


def test_like_x_shares_its_people_and_each_part_of_likeness_can_be_switched_off():
    # Night Terror is a horror film; of the horror films without tags, Haunted Comedy Club shares its director
    people = {9: ("Ann Auteur", "Bo Star"), 5: ("Ann Auteur", "Cy Extra"), 11: ("Di Other",)}
    changes = {i: {"people": names} for i, names in people.items()}
    rec = tagged_recommender(changes)
    rows = np.array([rec.index.position[i] for i in (5, 11)])
    liked = [rec.index.position[9]]
    haunted, blood = rec.attributes.likeness(rows, liked, rec.encoder, parts=["people"]).tolist()
    assert haunted > blood == 0.0
    both = rec.attributes.likeness(rows, liked, rec.encoder)
    assert both[0] > both[1]  # with every part, the shared director still counts (Blood Moon shares more genres)
    off = replace(rec.attributes, likeness_weights={**rec.attributes.likeness_weights, "people": 0.0})
    assert off.likeness(rows, liked, rec.encoder, parts=["people"]).tolist() == [0.0, 0.0]


def test_a_shared_director_counts_more_than_a_shared_cast_member():
    # Night Terror by Ann Auteur with Bo Star; Blood Moon is Ann Auteur's, Haunted Comedy Club has Bo Star in its cast
    people = {9: ("Ann Auteur", "Bo Star"), 11: ("Ann Auteur", "Cy Extra"), 5: ("Di Other", "Bo Star")}
    rec = tagged_recommender({i: {"people": names} for i, names in people.items()})
    rows = np.array([rec.index.position[i] for i in (11, 5, 10)])  # and The Cellar, which shares nobody
    directed, cast, nobody = rec.attributes.likeness(rows, [rec.index.position[9]], rec.encoder, ["people"]).tolist()
    assert directed > cast > nobody


def test_a_shared_director_counts_only_for_a_film_of_the_same_kind():
    # Night Terror (horror) and Quiet Drama (a drama) are Ann Auteur's; Blood Moon (horror) shares Bo Star
    people = {9: ("Ann Auteur", "Bo Star"), 18: ("Ann Auteur", "Cy Extra"), 11: ("Di Other", "Bo Star")}
    rec = tagged_recommender({i: {"people": names} for i, names in people.items()})
    rows = np.array([rec.index.position[i] for i in (18, 11, 10)])  # and The Cellar, which shares nobody
    drama, horror, nobody = rec.attributes.likeness(rows, [rec.index.position[9]], rec.encoder, ["people"]).tolist()
    assert drama == nobody == 0.0 < horror
    genreless = replace(rec.attributes, genre_matrix=np.zeros_like(rec.attributes.genre_matrix))
    drama, horror, nobody = genreless.likeness(rows, [rec.index.position[9]], rec.encoder, ["people"]).tolist()
    assert drama > horror > nobody  # without genres to tell the kind, the director counts


def test_the_likeness_weights_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("CONVREC_LIKENESS", '{"keywords": 0, "people": 2}')
    settings = Settings(llm="none")
    assert settings.likeness == {"keywords": 0, "people": 2}
    base = tiny_catalog()
    attrs = Attributes.from_items(list(base.items.values()), np.zeros((len(base.items), 0)), settings.likeness)
    assert attrs.likeness_weights["keywords"] == 0 and attrs.likeness_weights["people"] == 2
    assert attrs.likeness_weights["genres"] == LIKENESS_WEIGHTS["genres"]


def test_like_x_brings_the_films_most_like_it_among_the_candidates():
    # "like Space Station": the shortlists hold the films most like it, whatever the other sources bring
    rec = tagged_recommender()
    needs = Needs(liked=(15,), text="like Space Station")
    everything = np.ones(len(rec.index.ids), bool)
    alike, genres = (SOURCES[name].column(rec.library, Query(needs)) for name in ("alike", "attr"))
    assert alike is not None and genres is not None
    top = alike.top(everything, 2).tolist()
    assert top == [15, 23]  # itself, then Alien Comedy (its aliens)
    assert genres.top(everything, 2).tolist() == []  # the genres score candidates only
    rows = np.array([rec.index.position[i] for i in (23, 12, 16)])
    scores = alike.at(rows)
    assert scores[0] > scores[1]  # Alien Comedy is more like it than Dusty Trail
    assert genres.at(rows)[2] > genres.at(rows)[0]  # Robot Dawn shares more of its genres


def test_without_keywords_or_people_likeness_is_the_genres_alone():
    rec = tagged_recommender()
    bare = Needs(liked=(12,), text="like Dusty Trail")  # no tags, no people
    assert SOURCES["alike"].column(rec.library, Query(bare)) is None
    assert SOURCES["attr"].column(rec.library, Query(bare)) is not None


def test_but_y_moves_the_genres_x_is_compared_by():
    rec = tagged_recommender()
    liked = [rec.index.position[15]]  # Space Station: Sci-Fi, Action
    needs = Needs(
        liked=(15,), prefer_genres=("Comedy",), avoid_genres=("Action",), text="like Space Station but funnier"
    )
    wanted = moved_genres(rec.library, needs, liked)
    assert wanted is not None
    assert {g for g, w in zip(rec.library.filters.genres, wanted) if w} == {"Sci-Fi", "Comedy"}
    assert moved_genres(rec.library, Needs(liked=(15,)), liked) is None  # no Y: X's own genres
    # Alien Comedy (Comedy, Sci-Fi); Six Guns (Western, Action); Quiet Drama (Drama)
    rows = np.array([rec.index.position[i] for i in (23, 13, 18)])
    moved = rec.attributes.likeness(rows, liked, rec.encoder, parts=["genres"], genres=wanted).tolist()
    plain = rec.attributes.likeness(rows, liked, rec.encoder, parts=["genres"]).tolist()
    assert moved == [1.0, 0.0, 0.0] and plain[1] > plain[2]  # Six Guns shares Action with X, nothing with what Y asks


def test_a_format_genre_is_no_part_of_the_genre_likeness():
    # Space Station as an IMAX release: the Sci-Fi action film is more like it than an IMAX one with less of its genres
    genres = {15: ("Sci-Fi", "Action", "IMAX"), 23: ("Sci-Fi", "Action", "Drama"), 12: ("Sci-Fi", "IMAX")}
    rec = tagged_recommender({i: {"genres": g} for i, g in genres.items()})
    rows, liked = np.array([rec.index.position[i] for i in (23, 12)]), [rec.index.position[15]]
    action, imax = rec.attributes.likeness(rows, liked, rec.encoder, parts=["genres"]).tolist()
    assert action > imax
    with_format = Attributes.from_items(rec.items, rec.library.filters.genre_matrix)
    action, imax = with_format.likeness(rows, liked, rec.encoder, parts=["genres"]).tolist()
    assert imax > action  # counted as a genre, IMAX would make the IMAX film the more alike


@pytest.mark.shared
def test_the_people_of_a_film_bring_its_directors_other_films(shared_data):
    cat = load_catalog(shared_data / "ml-latest-small", knowledge=[shared_data / "imdb-5000"])
    items = list(cat.items.values())
    attrs = Attributes.from_items(items, np.zeros((len(items), 0)))
    row = {it.label(): r for r, it in enumerate(items)}
    near = attrs.likeness(np.arange(len(items)), [row["Pulp Fiction (1994)"]], HashEncoder(), ["people"])
    near[row["Pulp Fiction (1994)"]] = 0
    top = {items[r].label() for r in np.argsort(-near)[:10]}
    assert {"Reservoir Dogs (1992)", "Jackie Brown (1997)", "Inglourious Basterds (2009)"} <= top, top


class TableEncoder:
    """Words to fixed unit vectors, so that a test sets how near two names are."""

    name, dim = "table", 3

    def __init__(self, table: dict[str, tuple[float, float, float]]) -> None:
        self.table = table

    def encode(self, texts, *, batch_size: int = 64, progress: bool = False):
        return np.array([self.table[t] for t in texts], np.float32)


def test_a_word_no_attribute_names_weighs_as_much_as_its_nearest_name_means_it():
    from convrec.core.types import Item

    # "lives" is no attribute; its nearest, "life" (cosine 0.8), is rarer than "time loop"
    encoder = TableEncoder({"time loop": (1, 0, 0), "life": (0, 1, 0), "lives": (0, 0.8, 0.6), "plain": (0, 0, 1)})
    items = [
        Item(1, "Loop", tags=("time loop",)),
        Item(2, "Loop 2", tags=("time loop",)),
        Item(3, "Life", tags=("life",)),
    ]
    items += [Item(i, f"F{i}", tags=("plain",)) for i in range(4, 11)]
    about = Attributes.from_items(items, np.zeros((len(items), 0))).about(["time loop", "lives"], encoder)
    assert about is not None and about[0] > about[2] > 0  # the film about the time loop first


def test_the_telling_is_searched_only_inside_a_phrase():
    from convrec.retrieve.sources.builtin import about_words

    rec = tagged_recommender({17: {"tags": ("coming of age",)}, 18: {"tags": ("coming of age", "true story")},
                              10: {"tags": ("story",)}})  # fmt: skip
    for text, words in (
        ("a coming of age story", ["coming of age"]),
        ("a true story of survival", ["true story", "survival"]),
    ):
        needs = rec.recommend(Session(), text, k=3).needs
        assert about_words(rec.library, needs) == words, text


def test_like_x_prefers_a_known_film_to_an_obscure_one_but_not_a_famous_one_to_a_known_one():
    rec = tagged_recommender()
    ratings = np.zeros(len(rec.index.ids), np.float32)
    for item_id, n in {23: 1, 16: KNOWN_RATINGS, 12: 50 * KNOWN_RATINGS}.items():  # obscure, known, famous
        ratings[rec.index.position[item_id]] = n
    library = rec.library.with_(popularity=np.log1p(ratings), known=ratings > 0)
    known = SOURCES["known"]
    column = known.column(library, Query(Needs(liked=(15,), text="like Space Station")))
    assert column is not None
    rows = np.array([rec.index.position[i] for i in (23, 16, 12)])
    obscure, counted, famous = column.at(rows).tolist()
    assert obscure < counted == famous
    assert len(column.top(np.ones(len(ratings), bool), 5)) == 0  # it scores the candidates, brings none
    assert known.missing(library, rows).tolist() == [False, False, False]
    assert known.missing(library, np.array([rec.index.position[18]])).tolist() == [True]  # nobody rated it
    assert known.column(library, Query(Needs(text="space films", keywords=("space",)))) is None  # nothing liked
    moved = Needs(liked=(15,), prefer_genres=("Comedy",), text="like Space Station but funnier")
    assert known.column(library, Query(moved)) is None  # Y's films are fewer and less known


def test_like_x_counts_no_co_ratings_for_a_film_few_people_rated():
    rec = tagged_recommender()
    ratings = np.full(len(rec.index.ids), 50 * KNOWN_RATINGS, np.float32)
    ratings[rec.index.position[2]] = 1  # Silly Summer, a comedy, as if rated once
    library = rec.library.with_(popularity=np.log1p(ratings), known=ratings > 0)
    rows = np.array([rec.index.position[i] for i in (2, 3, 12, 9)])  # and a comedy, a western, a horror film
    liked = Needs(liked=(1,), text="like Laugh Riot")
    plain = np.asarray(library.cf.fold_in(liked.liked, liked.disliked).at(rows))
    assert plain[0] > plain.min()  # the comedy fans' co-ratings alone rank it above the western
    scores = np.asarray(SOURCES["cf"].column(library, Query(liked)).at(rows))
    assert scores[0] == scores.min() and scores[1:].tolist() == plain[1:].tolist()
    moved = Needs(liked=(1,), prefer_genres=("Horror",), text="like Laugh Riot but scarier")
    assert np.asarray(SOURCES["cf"].column(library, Query(moved)).at(rows)).tolist() == plain.tolist()


def test_where_few_people_rate_every_film_counts_as_known():
    rec = tagged_recommender()  # 30 raters, 6 to 13 ratings a film: a tenth of the most rated film's is 1.3
    rows = np.flatnonzero(rec.library.known)
    liked = Needs(liked=(1,), text="like Laugh Riot")
    known = SOURCES["known"].column(rec.library, Query(liked))
    assert known is not None and len(set(np.asarray(known.at(rows)).tolist())) == 1
    plain = rec.library.cf.fold_in(liked.liked, liked.disliked).at(rows)
    assert np.asarray(SOURCES["cf"].column(rec.library, Query(liked)).at(rows)).tolist() == np.asarray(plain).tolist()
