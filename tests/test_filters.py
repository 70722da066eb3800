"""Hard filters: several genres asked for, and what is left once shown items are removed."""

import pandas as pd
import pytest

from convrec.chat.recommender import Recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.types import Item, Needs
from convrec.data.catalog import Catalog
from convrec.data.documents import item_text
from convrec.retrieve.cf import ItemKNN
from convrec.retrieve.filters import Filters
from convrec.retrieve.index import ItemIndex
from convrec.testing import HashEncoder

BOTH = ("Comedy", "Romance")


def few_with_both(n_both: int = 22) -> Catalog:
    """`n_both` romantic comedies (ids 1, 2, ...), 20 comedies, 20 romances and 10 dramas."""
    items = [Item(i, f"Both {i}", 1990, BOTH) for i in range(1, n_both + 1)]
    items += [Item(100 + i, f"Funny {i}", 1995, ("Comedy",)) for i in range(20)]
    items += [Item(200 + i, f"Sweet {i}", 2000, ("Romance",)) for i in range(20)]
    items += [Item(300 + i, f"Sad {i}", 2005, ("Drama",)) for i in range(10)]
    rows = [(u, it.item_id, 4.0, 0) for u in range(1, 6) for it in items[u::7]]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).astype(
        {"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"}
    )
    return Catalog("both", {it.item_id: it for it in items}, inter)


def recommender(catalog: Catalog) -> Recommender:
    encoder = HashEncoder()
    ids = catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    return Recommender(catalog, index, ItemKNN().fit(catalog.interactions, ids), encoder, None, Settings(llm="none"))


def test_every_genre_is_counted_after_the_exclusions():
    catalog = few_with_both()
    items = list(catalog.items.values())
    filters = Filters(items, catalog.genres(), {it.item_id: row for row, it in enumerate(items)})
    needs = Needs(include_genres=BOTH)
    assert filters.allowed(needs, every_min=20).sum() == 22  # 22 have both: enough
    shown = set(range(1, 6))  # 5 of them were shown: 17 left, fewer than 20, so any of the genres
    mask = filters.allowed(needs, exclude=shown, every_min=20)
    assert mask.sum() == 57 and not any(mask[[r for r, it in enumerate(items) if it.item_id in shown]])


@pytest.mark.parametrize("n_both, n_shown", [(22, 5), (17, 0)])
def test_a_request_for_twenty_gets_twenty_when_twenty_match(n_both, n_shown):
    # 17 romantic comedies are left either way: more than the default k (5), fewer than the 20 asked for
    rec = recommender(few_with_both(n_both))
    session = Session()
    shown = list(range(1, n_shown + 1))
    if shown:
        session.record("romantic comedies", shown)
    turn = rec.recommend(session, "a comedy and romance", k=20)
    assert turn.needs.include_genres == BOTH
    assert len(turn.recs) == 20
    assert not {r.item.item_id for r in turn.recs} & set(shown)
    assert all(set(r.item.genres) & set(BOTH) for r in turn.recs)
