"""What the text encoder is asked: never the words a message negates."""

from convrec.chat.recommender import Recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.types import Item, Needs
from convrec.data.catalog import Catalog
from convrec.data.documents import item_text
from convrec.retrieve.cf import ItemKNN
from convrec.retrieve.index import ItemIndex
from convrec.retrieve.search import query_text
from convrec.retrieve.sources import Query
from convrec.testing import HashEncoder, tiny_catalog


def with_horror_titles() -> Catalog:
    """The tiny catalogue plus two films with "horror" in the title that are not Horror films."""
    tiny = tiny_catalog()
    extra = [
        Item(25, "Horror Hotel Blues", 1962, ("Drama",), text="An old horror actor runs a hotel for horror fans."),
        Item(26, "The Horror Show Musical", 1978, ("Musical",), text="Songs about horror, horror films and fear."),
    ]
    return Catalog("tiny+", {**tiny.items, **{it.item_id: it for it in extra}}, tiny.interactions)


def test_the_fallback_text_leaves_out_negated_words():
    assert query_text(Needs(exclude_genres=("Horror",), text="no horror please"), "movie") == ""
    assert query_text(Needs(disliked=(9,), text="I didn't like Night Terror"), "movie") == ""
    assert query_text(Needs(text="something like Dusty Trail", liked=(12,)), "movie") == "something like Dusty Trail"


def test_no_horror_please_does_not_search_for_horror():
    catalog = with_horror_titles()
    encoder = HashEncoder()
    ids = catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    rec = Recommender(catalog, index, ItemKNN().fit(catalog.interactions, ids), encoder, None, Settings(llm="none"))
    turn = rec.recommend(Session(), "no horror please")
    assert turn.needs.exclude_genres == ("Horror",)
    assert "horror" not in Query(turn.needs).text(rec.library).casefold()
    assert len(turn.recs) == 5 and not [r.item.title for r in turn.recs if "Horror" in r.item.title]


def test_words_the_encoder_cannot_read_leave_the_text_source_at_a_quarter():
    from convrec.retrieve.sources import SOURCES

    text = SOURCES["text"]
    full = text.weight
    leftover = Needs(include_genres=("Horror",), keywords=("越好",), language="zh")  # "越吓人越好"
    assert text.turn_weight({}, Query(leftover)) == full / 4  # English-only encoder: the genre alone
    assert text.turn_weight({}, Query(leftover, multilingual=True)) == full  # it reads the word
    assert text.turn_weight({}, Query(leftover.with_(keywords=("越好", "shark")))) == full
    assert query_text(leftover, "movie") == "Horror"
