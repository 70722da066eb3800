"""Knowledge tables: each format recognised by its columns, one join (ids, then title and year), one report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from convrec.core.config import Settings
from convrec.core.errors import CatalogError, ModelNotFound
from convrec.data.catalog import Catalog
from convrec.data.knowledge import MAX_KNOWLEDGE_TAGS, Links, add_knowledge, knowledge_files
from convrec.data.loaders import load_catalog
from convrec.retrieve.build import build_index
from convrec.testing import HashEncoder, tiny_catalog

from .test_build import write_movielens


def kw(*names: str) -> str:
    return json.dumps([{"id": n, "name": name} for n, name in enumerate(names)])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def catalog() -> Catalog:
    cat = tiny_catalog()
    items = dict(cat.items)  # an alternative title, as MovieLens writes them
    items[16] = replace(items[16], title="Robot Dawn (Aube des robots)")
    items[17] = replace(items[17], tags=("paris",))
    return Catalog(cat.name, items, cat.interactions)


def tmdb_5000(path: Path) -> Path:
    rows = [
        ["id", "title", "release_date", "overview", "keywords", "tagline"],
        ["101", "Laugh Riot", "1994-05-01", "Two clowns rob a bank.", kw("heist", "bank robbery"), "Crime pays."],
        ["106", "Prankster, The", "1988-01-01", "A joker\nplays tricks.", kw("prank"), ""],  # a year off, two lines
        ["116", "Aube des robots", "2012-03-03", "Machines wake up.", kw("artificial intelligence"), ""],
        ["117", "Love in Paris", "1998-01-01", "Lovers in Paris.", '[{"name": "romance"', ""],  # a bad list
        ["999", "Not In The Catalogue", "2001-01-01", "Elsewhere.", kw("x"), ""],
    ]
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_tmdb_rows_join_by_title_and_year_with_articles_alternative_titles_and_a_year_off(catalog, tmp_path):
    cat, report = add_knowledge(catalog, [tmdb_5000(tmp_path / "tmdb_5000_movies.csv")])
    assert cat.get(1).text == "Two clowns rob a bank. Crime pays."
    assert cat.get(1).tags == ("heist", "bank robbery")
    assert cat.get(6).tags == ("prank",) and cat.get(16).tags == ("artificial intelligence",)
    assert str(report) == (
        "knowledge: 4 of 24 items (4 by title and year), 0 ambiguous rows skipped; 1 bad fields reported (rows kept)"
    )
    source = report.sources[0]
    assert (source.format, source.rows, source.joined["title and year"]) == ("tmdb-5000", 5, 4)
    # the bad keyword list is named by file, line (the two-line overview counted) and field; the rest is used
    assert source.problems == (
        "tmdb_5000_movies.csv line 6: field 'keywords' must be a list like [{'name': 'heist'}] or ['A', 'B'], "
        'got \'[{"name": "romance"\'; the row\'s other fields are used',
    )
    assert cat.get(17).text == "Lovers in Paris." and cat.get(17).tags == ("paris",)


def test_an_external_id_joins_first_and_a_title_whose_id_disagrees_is_another_film(catalog, tmp_path):
    path = tmdb_5000(tmp_path / "tmdb_5000_movies.csv")
    links = Links(tmdb={3: 101, 1: 555})  # row 101 is item 3 by id; item 1 is TMDB 555, not the row "Laugh Riot"
    cat, report = add_knowledge(catalog, [path], links=links)
    assert cat.get(3).tags == ("heist", "bank robbery") and cat.get(1).tags == ()
    source = report.sources[0]
    assert source.joined["tmdbId"] == 1 and source.joined["title and year"] == 3 and report.by["tmdbId"] == 1


def test_ambiguous_titles_are_counted_never_guessed(catalog, tmp_path):
    items = dict(catalog.items)
    items[99] = replace(items[1], item_id=99, year=1995)  # a second "Laugh Riot", one year later
    items[98] = replace(items[1], item_id=98, year=1993)  # and a third, one year earlier
    twice = Catalog(catalog.name, items, catalog.interactions)
    write(
        tmp_path / "t.csv",
        "id,title,release_date,overview\n7,Laugh Riot,1994-01-01,exact year wins\n8,Laugh Riot,1997-01-01,x\n",
    )
    cat, report = add_knowledge(twice, [tmp_path / "t.csv"])
    assert cat.get(1).text == "exact year wins" and cat.get(99).text == ""
    write(tmp_path / "t.csv", "id,title,release_date,overview\n8,Laugh Riot,1994-06-01,x\n9,Laugh Riot,1992-01-01,y\n")
    items.pop(1)
    cat, report = add_knowledge(Catalog(catalog.name, items, catalog.interactions), [tmp_path / "t.csv"])
    assert report.ambiguous == 1 and report.covered == 1 and cat.get(98).text == "y"  # 1994 fits 1993 and 1995


def test_every_shared_format_is_recognised_by_its_columns(catalog, tmp_path):
    nbsp = "\u00a0"
    files = [
        write(tmp_path / "top10k.csv", "id,title,genre,original_language,overview,popularity,release_date\n"
              '201,Night Terror,"Horror",en,A house that screams.,1.0,1993-10-01\n'),
        write(tmp_path / "keywords.csv", "id,keywords\n202,\"[{'id': 1, 'name': 'ghost'}, {'id': 2, 'name': 'cellar'}]\"\n"),
        write(tmp_path / "movie_metadata.csv", "index;director_name;actor_1_name;actor_2_name;actor_3_name;"
              f"movie_title;title_year;plot_keywords;movie_imdb_link\n1;Ann Lee;Bo Ray;;Cy Dee;Dusty Trail{nbsp};1965.0;"
              "dust|cowboy;http://www.imdb.com/title/tt0012345/?ref_=fn_tt_tt_1\n"),
        write(tmp_path / "movies_metadata.csv", "id,imdb_id,title,overview,tagline,release_date\n"
              "203,tt0099999,Quiet Drama,A quiet story.,Hush.,2003-02-02\n"),
    ]  # fmt: skip
    links = Links(tmdb={10: 202})
    cat, report = add_knowledge(catalog, files, links=links)
    assert [s.format for s in report.sources] == ["tmdb", "tmdb-keywords", "imdb-5000", "tmdb-movies-metadata"]
    assert cat.get(9).text == "A house that screams."
    assert cat.get(10).tags == ("ghost", "cellar")
    assert cat.get(12).tags == ("dust", "cowboy") and cat.get(12).people == ("Ann Lee", "Bo Ray", "Cy Dee")
    assert cat.get(18).text == "A quiet story. Hush."
    assert report.by == {"tmdbId": 1, "imdbId": 0, "id": 0, "title and year": 3}


def test_a_links_table_gives_ids_to_the_tables_after_it(catalog, tmp_path):
    links = write(tmp_path / "links.csv", "movieId,imdbId,tmdbId\n15,0001,301\n")
    keywords = write(tmp_path / "keywords.csv", "id,keywords\n301,\"[{'id': 1, 'name': 'space station'}]\"\n")
    cat, report = add_knowledge(catalog, [links, keywords])
    assert cat.get(15).tags == ("space station",) and report.by["tmdbId"] == 1
    assert add_knowledge(catalog, [keywords])[1].covered == 0  # keywords.csv alone has no titles to join by


def test_any_table_through_a_mapping_and_an_unknown_table_is_named(catalog, tmp_path):
    path = write(tmp_path / "mine.csv", "name,when,blurb,subjects\nSix Guns,1958,A duel at dawn.,duel;revenge\n")
    with pytest.raises(CatalogError, match=r"mine.csv line 1: not a knowledge table .*name, when, blurb, subjects"):
        add_knowledge(catalog, [path])
    cat, _ = add_knowledge(catalog, [path], knowledge_map="title=name,year=when,text=blurb,tags=subjects,sep=;")
    assert cat.get(13).text == "A duel at dawn." and cat.get(13).tags == ("duel", "revenge")
    with pytest.raises(
        CatalogError, match="--knowledge-map: 'plot=blurb' maps an unknown field 'plot'; the fields are title"
    ):
        add_knowledge(catalog, [path], knowledge_map="plot=blurb")


def test_files_directories_and_comma_lists(tmp_path):
    (tmp_path / "d").mkdir()
    a, b = write(tmp_path / "d" / "b.csv", ""), write(tmp_path / "d" / "a.csv", "")
    assert knowledge_files([f"{tmp_path / 'd'}, {tmp_path / 'x.csv'}"]) == [b, a, tmp_path / "x.csv"]
    with pytest.raises(CatalogError, match="no such knowledge file"):
        add_knowledge(tiny_catalog(), [tmp_path / "missing.csv"])


def test_build_index_records_the_knowledge_and_its_coverage(tmp_path, monkeypatch):
    write_movielens(tmp_path / "data", tiny_catalog())
    tmdb_5000(tmp_path / "tmdb_5000_movies.csv")
    monkeypatch.setenv("CONVREC_KNOWLEDGE", str(tmp_path / "tmdb_5000_movies.csv"))
    settings = Settings(dataset=str(tmp_path / "data"), index_dir=tmp_path / "index", embed_model="hash", llm="none")
    said: list[str] = []
    manifest, built = build_index(settings, encoder=HashEncoder(), progress=False, log=said.append)
    assert built and said[0].startswith("knowledge: 3 of 24 items (3 by title and year)")
    knowledge = manifest["catalog"]["knowledge"]
    assert knowledge["files"] == [str(tmp_path / "tmdb_5000_movies.csv")] and knowledge["covered"] == 3
    stored = load_catalog(tmp_path / "index" / "catalog")
    assert stored.get(1).tags == ("heist", "bank robbery") and stored.get(1).tag_sources == ("TMDB", "TMDB")


def test_tags_keep_who_gave_them_the_catalogues_own_first(catalog, tmp_path):
    items = dict(catalog.items)
    items[1] = replace(items[1], tags=("heist", "clowns"), tag_sources=("viewers", "viewers"))
    imdb = write(tmp_path / "movie_metadata.csv", "movie_title,title_year,plot_keywords,movie_imdb_link\n"
                 "Laugh Riot ,1994,clown|circus|heist,\n")  # fmt: skip
    cat, _ = add_knowledge(Catalog(catalog.name, items, catalog.interactions), [tmdb_5000(tmp_path / "t.csv"), imdb])
    assert cat.get(1).tags == (
        "heist",
        "clowns",
        "bank robbery",
        "clown",
        "circus",
    )  # a repeated tag keeps its first giver
    assert cat.get(1).tag_sources == ("viewers", "viewers", "TMDB", "IMDb", "IMDb")
    assert cat.get(1).tag_source("bank robbery") == "TMDB" and cat.get(17).tag_sources == ("",)
    unsourced = Catalog(cat.name, {**cat.items, 1: replace(cat.get(1), tag_sources=())}, cat.interactions)
    assert cat.content_hash() != unsourced.content_hash()


def test_many_viewer_tags_never_crowd_the_keywords_out_of_the_cap(catalog, tmp_path):
    items = dict(catalog.items)
    verdicts = tuple(f"verdict {n}" for n in range(MAX_KNOWLEDGE_TAGS - 1))
    own = (*verdicts, "heist")  # viewers' most used first; their last one is also a keyword
    items[1] = replace(items[1], tags=own, tag_sources=("viewers",) * len(own))
    cat, _ = add_knowledge(Catalog(catalog.name, items, catalog.interactions), [tmdb_5000(tmp_path / "t.csv")])
    assert cat.get(1).tags == (*verdicts[: MAX_KNOWLEDGE_TAGS - 2], "heist", "bank robbery")
    assert cat.get(1).tag_sources == (*("viewers",) * (MAX_KNOWLEDGE_TAGS - 1), "TMDB")


def test_bench_build_times_a_build_without_and_with_knowledge_in_one_run(tmp_path):
    from convrec.eval.build_cost import PHASES, bench_build

    write_movielens(tmp_path / "data", tiny_catalog())
    table = str(tmdb_5000(tmp_path / "tmdb_5000_movies.csv"))
    settings = Settings(dataset=str(tmp_path / "data"), knowledge=table, embed_model="hash", llm="none")
    result = bench_build(settings, reps=2, scratch=tmp_path, encoder=HashEncoder())
    assert result["items"] == {"plain": 24, "knowledge": 24} and set(result["ratio"]) == set(PHASES)
    assert result["mean_chars"]["knowledge"] > result["mean_chars"]["plain"] and len(result["load_average"]) == 4
    assert result["mean_tokens"] == {"plain": None, "knowledge": None}  # a hash encoder has no tokens
    assert result["items_per_s"]["plain"] > 0 and result["items_per_s"]["knowledge"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "tmdb_5000_movies.csv"]  # the builds are removed
    with pytest.raises(CatalogError, match="--knowledge"):
        bench_build(settings.model_copy(update={"knowledge": ""}), encoder=HashEncoder())


@pytest.mark.slow
def test_bench_build_counts_the_documents_tokens_as_the_encoder_embeds_them(tmp_path):
    from convrec.eval.build_cost import bench_build
    from convrec.retrieve.build import make_encoder

    write_movielens(tmp_path / "data", tiny_catalog())
    table = str(tmdb_5000(tmp_path / "tmdb_5000_movies.csv"))
    settings = Settings(dataset=str(tmp_path / "data"), knowledge=table, llm="none")
    try:
        encoder = make_encoder(settings)
    except (ModelNotFound, OSError) as e:
        pytest.skip(f"embedding model not available: {e}")
    result = bench_build(settings, scratch=tmp_path, encoder=encoder)
    tokens, chars = result["mean_tokens"], result["mean_chars"]
    assert 1 < chars["plain"] / tokens["plain"] < 8 and 1 < chars["knowledge"] / tokens["knowledge"] < 8
    assert tokens["knowledge"] > tokens["plain"] and min(result["items_per_s"].values()) > 0


@pytest.mark.shared
def test_shared_tables_cover_ml_latest_small(shared_data: Path) -> None:
    tables = ["tmdb-5000", "tmdb-top10k", "movies-dataset/keywords.csv", "imdb-5000"]
    cat = load_catalog(shared_data / "ml-latest-small")
    with_knowledge, report = add_knowledge(
        cat, [shared_data / t for t in tables], links=Links(tmdb={}, imdb={})
    )  # without links.csv only titles and years join
    assert report.by["title and year"] > 5000 and report.by["tmdbId"] == 0
    full = load_catalog(shared_data / "ml-latest-small", knowledge=[shared_data / t for t in tables])
    items = list(full.items.values())
    assert sum(bool(i.text) for i in items) > 0.6 * len(items) and sum(bool(i.tags) for i in items) > 0.85 * len(items)
    heat = full.get(6)
    assert "heist" in heat.tags and "Neil McCauley" in heat.text
    assert with_knowledge.get(6).text == heat.text  # by title and year the same film


def test_repeated_knowledge_options_become_the_one_setting(monkeypatch):
    from convrec.cli import build_parser
    from convrec.core.config import settings_from_args

    monkeypatch.delenv("CONVREC_KNOWLEDGE", raising=False)
    args = build_parser().parse_args(["build-index", "--knowledge", "a.csv", "--knowledge", "tmdb-5000"])
    assert settings_from_args(args).knowledge == "a.csv,tmdb-5000"
    assert settings_from_args(build_parser().parse_args(["build-index"])).knowledge == ""
