"""`convrec learn --feedback` and what one client can do to it: a client clicking the same item
in many conversations must not move it for everyone else."""

import httpx
import numpy as np

from convrec.chat.load import load_recommender
from convrec.core.config import Settings
from convrec.data.dialogs import RECOMMENDER, SEEKER, Dialogue
from convrec.retrieve.conv import ConvModel
from convrec.serve.api import Running, create_api
from convrec.serve.db import open_store
from convrec.serve.learn import feedback_counts, learn
from convrec.serve.service import make_service
from convrec.testing import HashEncoder

from .test_conv import built, rank_over_rest  # noqa: F401  (built: the fixture)

TABLE = (
    "id,context,target\n"
    + "".join(f'w{n}/2,"User: I loved ""Dusty Trail"" (1965)",Six Guns (1958)\n' for n in range(4))
    + 'c1/2,"User: I loved ""Laugh Riot"" (1994)",Silly Summer (1996)\n'
)


def top(settings, text, k=20):
    """The ids a new conversation is answered with for `text`, best first."""
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    with Running(create_api(make_service(rec))) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        sid = c.post("/v1/sessions").json()["session_id"]
        return [
            i["item_id"] for i in c.post(f"/v1/sessions/{sid}/messages", json={"text": text, "k": k}).json()["items"]
        ]


def test_one_client_liking_one_item_in_twenty_conversations_moves_nothing_into_a_new_users_top_10(built, tmp_path):  # noqa: F811
    table = tmp_path / "dialogues.csv"
    table.write_text(TABLE)
    learn(built.index_dir, [table])  # the model as it was before the attack
    before = top(built, "a comedy")
    rec = load_recommender(built, llm=None, encoder=HashEncoder())
    target = next(i for i in before[12:] if "Comedy" in rec.catalog.items[i].genres)  # a comedy shown late
    db = tmp_path / "fb.sqlite3"
    with Running(create_api(make_service(rec, feedback_db=db))) as server, httpx.Client(base_url=server.url) as c:
        for _ in range(20):  # the most conversations one client may keep open
            sid = c.post("/v1/sessions").json()["session_id"]
            shown = c.post(f"/v1/sessions/{sid}/messages", json={"text": "a comedy from 1972", "k": 20}).json()
            assert target in {i["item_id"] for i in shown["items"]}
            r = c.post(f"/v1/sessions/{sid}/feedback", json={"item_id": target, "action": "like"})
            assert r.status_code == 200, r.text
    store = open_store(db)
    try:
        learn(built.index_dir, [table], store=store)
    finally:
        store.close()
    after = {text: top(built, text) for text in ("a comedy", "a funny movie", "a comedy from the 70s")}
    print(f"item {target}: #{before.index(target) + 1} for a new user's 'a comedy' before;", after)
    assert all(target not in ids[:10] for ids in after.values())


def test_a_client_votes_once_a_window_and_a_pair_counts_from_three_clients():
    def liked(n, item):  # a conversation liking Dusty Trail (12), then `item`
        return Dialogue(f"s{n}", ((SEEKER, (12,)), (RECOMMENDER, (item,))))

    voted = [(liked(n, 16), ("c-a", 0)) for n in range(20)]  # one client, twenty conversations, one day
    voted += [(liked(20, 16), ("c-a", 1)), (liked(21, 16), ("c-b", 0))]  # the next day; and a second client
    voted += [(liked(22 + n, 13), (client, 0)) for n, client in enumerate(("c-b", "c-c", "c-d"))]
    counts, stats = feedback_counts(voted, np.arange(1, 25), min_clients=3)
    assert counts.answered[11, 15] == counts.proposed[15] == 0  # 3 votes, but from 2 clients: held back
    assert counts.answered[11, 12] == counts.proposed[12] == 3 and counts.mentioned[11] == 5
    assert stats == {"voters": 5, "clients": 4, "held_back_pairs": 1, "held_back_items": 1}


def test_however_many_clients_vote_for_one_film_it_stays_a_share_of_what_the_model_knows(built, tmp_path):  # noqa: F811
    # the dialogues propose four films ten times each; sixty clients then like Robot Dawn (16), which
    # no dialogue proposed: without a cap per item, all their votes land on it and tie it with the four
    films = ["Six Guns (1958)", "Silly Summer (1996)", "Night Terror (1993)", "Dusty Trail (1965)"]
    table = tmp_path / "dialogues.csv"
    table.write_text("id,context,target\n" + "".join(f'd{n}/2,"User: hi",{films[n % 4]}\n' for n in range(40)))
    store = open_store(tmp_path / "fb.sqlite3")
    try:
        for n in range(60):
            store.record(f"s{n}", 16, "like", client=f"c-{n}")
        manifest = learn(built.index_dir, [table], store=store)
    finally:
        store.close()
    assert manifest["sources"]["feedback"]["clients"] == 60
    model = ConvModel.load(built.index_dir)
    prior = dict(zip(model.item_ids.tolist(), (model.prior * model.dialogues).tolist(), strict=True))
    share = Settings().feedback_conv_share
    assert 0 < prior[16] <= share / (1 - share) * model.shrinkage + 1e-4  # 2.5 proposals' worth, not 10
    assert prior[16] < min(prior[i] for i in (13, 2, 9, 12)) and model.score([])[model.position.get_loc(16)] < 0.1
