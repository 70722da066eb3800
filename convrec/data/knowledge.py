"""What items are about, from knowledge tables: one reader, one join, one coverage report.

    catalog, report = add_knowledge(catalog, ["tmdb_5000_movies.csv", "keywords.csv"], links=links)
    print(report)  # knowledge: 3,537 of 9,742 items (3,490 by tmdbId, 47 by title and year), 6 ambiguous rows skipped

A table's format is recognised by its columns (`FORMATS`): TMDB 5000 (overview, tagline, keywords), TMDB top 10k
(overview), The Movies Dataset's keywords.csv (keywords by TMDB id only) and movies_metadata.csv (overview,
tagline), IMDB 5000 (director, actors, plot keywords; `;`-separated copies too), the IMDb details scrape
(movielens100k_details.csv: plot, director, cast, poster), MovieLens links.csv (external ids of the catalogue's
MovieLens ids, for the tables after it), and any other table through a mapping ("title=name,text=blurb,tags=
subjects,tmdb_id=tmdb,sep=;": fields title, year, text, tags, people, image, tmdb_id, imdb_id).

A row joins its item by an external id when both sides have one (`Links`: links.csv beside the ratings), else by
title and year: case, accents, punctuation and moved articles ignored, alternative titles in parentheses tried,
the year exact or else one off. A title that fits several items is ambiguous and skipped, counted, never guessed;
so is a row whose title fits an item whose own id says it is another film. Knowledge lands on the `Item`
record every stage reads: `text` (overview and tagline, or plot; the first source's, an item's own text kept),
`tags` (the item's own, in the room keywords leave, then keywords; `tag_sources`: "TMDB", "IMDb"), `people`, `image`.

A bad field (a keyword list that does not parse) is reported with file, line and field, and the row's other
fields are still used. Left out on purpose: fetching anything online, and merging several overviews of one film.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from convrec.core.errors import CatalogError
from convrec.core.types import Item
from convrec.data.catalog import Catalog, front_article, normalise_title, title_key
from convrec.data.tables import parse_mapping

MAX_KNOWLEDGE_TAGS = 30  # an item's own tags plus keywords, at most; keywords are kept first
MAP_FIELDS = ("title", "year", "text", "tags", "people", "image", "tmdb_id", "imdb_id")
_NO_PLOT = "It looks like we don't have any Plot Summaries"


@dataclass(frozen=True)
class Links:
    """External ids of catalogue items: item id -> TMDB id and -> numeric IMDb id (MovieLens links.csv), and
    whether the item ids are ml-100k ids (the IMDb details scrape is keyed by them)."""

    tmdb: Mapping[int, int] = field(default_factory=dict)
    imdb: Mapping[int, int] = field(default_factory=dict)
    ml100k: bool = False


@dataclass(frozen=True)
class SourceCoverage:
    """What one knowledge file gave: rows read, rows joined by each key, rows skipped and why, bad fields."""

    file: str
    format: str
    rows: int
    joined: dict[str, int]
    ambiguous: int = 0  # the title and year fit several items
    disagreeing: int = 0  # the title fit an item whose id or year says it is another film
    repeated: int = 0  # a second row for an item this file already gave knowledge to
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "problems": list(self.problems[:100]), "problem_count": len(self.problems)}


@dataclass(frozen=True)
class KnowledgeReport:
    """How many catalogue items got knowledge, by the key that first joined them, and what each file gave."""

    items: int
    by: dict[str, int]
    sources: tuple[SourceCoverage, ...]

    @property
    def covered(self) -> int:
        return sum(self.by.values())

    @property
    def ambiguous(self) -> int:
        return sum(s.ambiguous for s in self.sources)

    def __str__(self) -> str:
        how = ", ".join(f"{n:,} by {key}" for key, n in self.by.items() if n)
        line = f"knowledge: {self.covered:,} of {self.items:,} items ({how or 'none'}), {self.ambiguous:,} ambiguous rows skipped"
        problems = sum(len(s.problems) for s in self.sources)
        return line + (f"; {problems:,} bad fields reported (rows kept)" if problems else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "covered": self.covered,
            "by": self.by,
            "sources": [s.to_dict() for s in self.sources],
        }


# --------------------------------------------------------------------------------------------
# Rows: what a table says about one film, and how to find its item


@dataclass
class _Row:
    line: int
    record: dict[str, str]
    title: str = ""
    year: int | None = None
    tmdb: int | None = None
    imdb: int | None = None
    own: int | None = None  # an ml-100k item id (the details scrape)
    plausible: bool = True  # False: the scrape's own year disagrees with the title's


@dataclass(frozen=True)
class _Knowledge:
    text: str = ""
    tags: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    image: str | None = None
    source: str = ""  # who gave its tags, as a reason names it ("TMDB keyword"): see `SOURCES`


@dataclass(frozen=True)
class _Format:
    name: str
    columns: frozenset[str]  # the columns that recognise it
    keys: Callable[[_Row], None]  # fills the row's title, year and ids
    knowledge: Callable[[_Row, Callable[[str, str], None]], _Knowledge]  # (row, report a bad field) -> knowledge


def _int(value: str | None) -> int | None:
    """'1995', '1995.0', ' 862 ' -> an int; anything else -> None."""
    try:
        return int(float(value)) if value and value.strip() else None
    except ValueError:
        return None


def _year(date: str | None) -> int | None:
    m = re.match(r"\s*(\d{4})", date or "")
    return int(m[1]) if m else None


def _tt(value: str | None) -> int | None:
    """'http://www.imdb.com/title/tt0499549/?ref_=fn_tt_tt_1' or 'tt0114709' -> 499549, 114709."""
    m = re.search(r"tt(\d+)", value or "")
    return int(m[1]) if m else None


def _names(value: str, column: str, bad: Callable[[str, str], None], *, literal: bool) -> list[str]:
    """Names from a JSON or Python-literal list of {"name": ...} objects or strings; a bad list is reported."""
    if not value.strip():
        return []
    try:
        parsed = ast.literal_eval(value) if literal else json.loads(value)
    except (ValueError, SyntaxError):
        bad(column, f"must be a list like [{{'name': 'heist'}}] or ['A', 'B'], got {value[:60]!r}")
        return []
    items = parsed if isinstance(parsed, (list, tuple)) else [parsed]
    names = [d.get("name") if isinstance(d, dict) else d for d in items]
    return [n.strip() for n in names if isinstance(n, str) and n.strip() and n.strip().lower() != "nan"]


def _tmdb_keys(row: _Row) -> None:
    r = row.record
    row.title, row.year, row.tmdb = r.get("title", "").strip(), _year(r.get("release_date")), _int(r.get("id"))
    row.imdb = _tt(r.get("imdb_id"))


def _tmdb_knowledge(row: _Row, bad: Callable[[str, str], None]) -> _Knowledge:
    r = row.record
    text = " ".join(part.strip() for part in (r.get("overview", ""), r.get("tagline", "")) if part and part.strip())
    literal = "title" not in r  # The Movies Dataset's keywords.csv writes Python literals, TMDB 5000 JSON
    return _Knowledge(text=text, tags=tuple(_names(r.get("keywords", ""), "keywords", bad, literal=literal)))


def _imdb5000_keys(row: _Row) -> None:
    r = row.record
    row.title, row.year, row.imdb = r["movie_title"].strip(), _int(r.get("title_year")), _tt(r.get("movie_imdb_link"))


def _imdb5000_knowledge(row: _Row, bad: Callable[[str, str], None]) -> _Knowledge:
    r = row.record
    people = [r.get(c, "").strip() for c in ("director_name", "actor_1_name", "actor_2_name", "actor_3_name")]
    keywords = [k.strip() for k in r.get("plot_keywords", "").split("|") if k.strip()]
    return _Knowledge(tags=tuple(keywords), people=tuple(p for p in people if p))


def _details_keys(row: _Row) -> None:
    r = row.record
    row.title, row.year = normalise_title(r["movie_title"]) if r["movie_title"].strip() else ("", None)
    row.imdb, row.own = _tt(r.get("movie_url")), _int(r.get("movie_id"))
    scraped = _int(r.get("year"))
    row.plausible = scraped is not None and row.year is not None and abs(scraped - row.year) <= 1


def _details_knowledge(row: _Row, bad: Callable[[str, str], None]) -> _Knowledge:
    r = row.record
    plot = r.get("description", "").strip()
    people = _names(r.get("director", ""), "director", bad, literal=True) + _names(
        r.get("cast", ""), "cast", bad, literal=True
    )
    posters = _names(r.get("poster_url", ""), "poster_url", bad, literal=True)
    return _Knowledge(
        text="" if plot.startswith(_NO_PLOT) else plot,
        people=tuple(dict.fromkeys(people)),
        image=posters[-1] if posters else None,
    )


FORMATS = (  # the first whose columns a table has reads it
    _Format(
        "imdb-details",
        frozenset({"movie_id", "movie_title", "movie_url", "description"}),
        _details_keys,
        _details_knowledge,
    ),
    _Format(
        "imdb-5000", frozenset({"movie_title", "title_year", "plot_keywords"}), _imdb5000_keys, _imdb5000_knowledge
    ),
    _Format("tmdb-5000", frozenset({"id", "title", "overview", "keywords"}), _tmdb_keys, _tmdb_knowledge),
    _Format("tmdb-movies-metadata", frozenset({"id", "imdb_id", "title", "overview"}), _tmdb_keys, _tmdb_knowledge),
    _Format("tmdb", frozenset({"id", "title", "overview", "release_date"}), _tmdb_keys, _tmdb_knowledge),
    _Format("tmdb-keywords", frozenset({"id", "keywords"}), _tmdb_keys, _tmdb_knowledge),
)
SOURCES = {"tmdb": "TMDB", "imdb": "IMDb"}  # a format's name's first part -> the source of its tags
LINKS_COLUMNS = frozenset({"movieId", "imdbId", "tmdbId"})


def _mapped_format(spec: str) -> _Format:
    mapping = parse_mapping(spec, (*MAP_FIELDS, "sep"), "--knowledge-map")
    sep = mapping.pop("sep", "|")

    def keys(row: _Row) -> None:
        r = row.record
        title = r.get(mapping.get("title", ""), "").strip()
        row.title, year = normalise_title(title) if title else ("", None)
        row.year = _int(r.get(mapping["year"])) if "year" in mapping else year
        row.tmdb = _int(r.get(mapping["tmdb_id"])) if "tmdb_id" in mapping else None
        row.imdb = _tt(r.get(mapping["imdb_id"])) or _int(r.get(mapping["imdb_id"])) if "imdb_id" in mapping else None

    def knowledge(row: _Row, bad: Callable[[str, str], None]) -> _Knowledge:
        r = row.record

        def listed(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in r.get(mapping.get(name, ""), "").split(sep) if v.strip())

        image = r.get(mapping.get("image", ""), "").strip()
        return _Knowledge(r.get(mapping.get("text", ""), "").strip(), listed("tags"), listed("people"), image or None)

    return _Format("mapped", frozenset(mapping.values()), keys, knowledge)


# --------------------------------------------------------------------------------------------
# Reading a table


def _read_table(path: Path) -> tuple[list[str], list[_Row]]:
    """Header and rows of a CSV/TSV/;-separated file, each row with the line it starts on."""
    if not path.is_file():
        raise CatalogError(f"{path}: no such knowledge file")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            first = f.readline()
            sep = max((",", ";", "\t"), key=first.count)
            f.seek(0)
            reader = csv.reader(f, delimiter=sep)
            header = [h.strip() for h in next(reader, [])]
            rows, start = [], reader.line_num + 1
            for values in reader:
                if values:
                    rows.append(_Row(start, dict(zip(header, values))))
                start = reader.line_num + 1
    except UnicodeDecodeError as e:
        raise CatalogError(f"{path.name}: not valid UTF-8 text (byte {e.start}); re-save it as UTF-8") from None
    except csv.Error as e:
        raise CatalogError(f"{path.name} line {reader.line_num}: cannot be parsed ({e})") from None
    return header, rows


def knowledge_files(paths: Iterable[str | Path]) -> list[Path]:
    """The tables `paths` name: a file as it is, a directory as the .csv/.tsv files in it (sorted), a
    comma-separated string (CONVREC_KNOWLEDGE) as its parts."""
    out: list[Path] = []
    for given in paths:
        for part in str(given).split(",") if isinstance(given, str) else [given]:
            path = Path(str(part).strip()).expanduser()
            if not str(part).strip():
                continue
            if path.is_dir():
                found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".tsv"))
                if not found:
                    raise CatalogError(f"{path}: no .csv or .tsv knowledge table in this directory")
                out.extend(found)
            else:
                out.append(path)
    return out


def _format_of(path: Path, header: list[str], knowledge_map: str) -> _Format:
    columns = set(header)
    if knowledge_map:
        mapped = _mapped_format(knowledge_map)
        if mapped.columns <= columns:
            return mapped
    for fmt in FORMATS:
        if fmt.columns <= columns:
            return fmt
    known = "; ".join(f"{f.name} ({', '.join(sorted(f.columns))})" for f in FORMATS)
    raise CatalogError(
        f"{path.name} line 1: not a knowledge table convrec knows (columns: {', '.join(header[:12])}); known: {known}; "
        "or name its columns with --knowledge-map title=COLUMN,text=COLUMN,tags=COLUMN,..."
    )


def read_links_table(path: Path, catalog: Catalog, links: Links) -> Links:
    """A MovieLens links.csv (movieId, imdbId, tmdbId) as ids of the catalogue's items, added to `links`."""
    _, rows = _read_table(path)
    tmdb, imdb = dict(links.tmdb), dict(links.imdb)
    for row in rows:
        item_id = _int(row.record.get("movieId"))
        if item_id in catalog.items:
            for ids, column in ((tmdb, "tmdbId"), (imdb, "imdbId")):
                value = _int(row.record.get(column))
                if value is not None:
                    ids.setdefault(item_id, value)
    return Links(tmdb, imdb, links.ml100k)


# --------------------------------------------------------------------------------------------
# The join


class TitleIndex:
    """Films by title key and year: each film's full title, its title without the parts in parentheses,
    its alternative titles in parentheses ("Shichinin no samurai (Seven Samurai)"), and with `before_colon`
    the part before a colon ("Jumanji" for "Jumanji: Welcome to the Jungle"). Films without a year are left out.

    >>> t = TitleIndex([(1, "Jumanji: Welcome to the Jungle", 2017), (2, "Seven Samurai (Shichinin no samurai)", 1954)], before_colon=True)
    >>> t.find("Jumanji", 2017), t.find("Shichinin no Samurai", 1955), t.find("Jumanji", 1995)
    ({1}, {2}, set())
    """

    def __init__(self, films: Iterable[tuple[int, str, int | None]], *, before_colon: bool = False) -> None:
        self.keys: dict[str, set[int]] = {}
        for film, title, year in films:
            if year is None:
                continue
            titles = {title, re.sub(r"\s*\([^()]*\)", " ", title)}
            titles |= {re.sub(r"(?i)^a\.k\.a\.\s*", "", alt) for alt in re.findall(r"\(([^()]*)\)", title)}
            if before_colon:
                titles |= {t.split(":", 1)[0] for t in titles if ":" in t}
            for t in titles:
                key = title_key(t, year)
                if not key.startswith("|"):
                    self.keys.setdefault(key, set()).add(film)

    @classmethod
    def of(cls, catalog: Catalog) -> TitleIndex:
        """The catalogue's items by their titles."""
        return cls((item.item_id, item.title, item.year) for item in catalog.items.values())

    def find(self, title: str, year: int) -> set[int]:
        """Films whose title fits (an article moved to its end put back), in the same year, else one year off."""
        title = front_article(title)
        exact = self.keys.get(title_key(title, year), set())
        if exact:
            return exact
        return self.keys.get(title_key(title, year - 1), set()) | self.keys.get(title_key(title, year + 1), set())


def add_knowledge(
    catalog: Catalog,
    files: Iterable[str | Path],
    *,
    links: Links | None = None,
    knowledge_map: str = "",
) -> tuple[Catalog, KnowledgeReport]:
    """The catalogue with what the knowledge `files` say about its items, and how much of it they covered.

    Files (or directories of tables, see `knowledge_files`) are read in the order given; for an item, the first file's text wins (an item's own text is kept),
    tags and people from every file are added after the item's own. The item's own tags (often viewers' verdicts,
    "amazing") keep only the room the keywords leave under `MAX_KNOWLEDGE_TAGS`. A links.csv among the files adds
    the external ids the tables after it join by.
    """
    links = links or Links()
    titles = TitleIndex.of(catalog)
    gathered: dict[int, list[_Knowledge]] = {}
    first_by: dict[int, str] = {}
    sources = []
    for path in knowledge_files(files):
        header, rows = _read_table(path)
        if LINKS_COLUMNS <= set(header):
            links = read_links_table(path, catalog, links)
            sources.append(SourceCoverage(path.name, "movielens-links", len(rows), {"movieId": len(links.tmdb)}))
            continue
        fmt = _format_of(path, header, knowledge_map)
        coverage = _join(path.name, fmt, rows, catalog, links, titles, gathered, first_by)
        sources.append(coverage)
    items = dict(catalog.items)
    for item_id, found in gathered.items():
        items[item_id] = _merged(items[item_id], found)
    by = {
        key: sum(1 for how in first_by.values() if how == key) for key in ("tmdbId", "imdbId", "id", "title and year")
    }
    report = KnowledgeReport(len(catalog), by, tuple(sources))
    return Catalog(catalog.name, items, catalog.interactions), report


def _join(
    label: str,
    fmt: _Format,
    rows: Sequence[_Row],
    catalog: Catalog,
    links: Links,
    titles: TitleIndex,
    gathered: dict[int, list[_Knowledge]],
    first_by: dict[int, str],
) -> SourceCoverage:
    by_tmdb = {t: i for i, t in links.tmdb.items()}
    by_imdb = {m: i for i, m in links.imdb.items()}
    joined = {"tmdbId": 0, "imdbId": 0, "id": 0, "title and year": 0}
    skipped = {"ambiguous": 0, "disagreeing": 0, "repeated": 0}
    problems: list[str] = []
    claimed: set[int] = set()
    for row in rows:
        fmt.keys(row)
        how, item_id = _find(row, catalog, links, by_tmdb, by_imdb, titles)
        if item_id is None:
            if how in skipped:
                skipped[how] += 1
            continue
        if item_id in claimed:
            skipped["repeated"] += 1
            continue
        claimed.add(item_id)
        joined[how] += 1
        first_by.setdefault(item_id, how)

        def bad(column: str, what: str, line: int = row.line) -> None:
            problems.append(f"{label} line {line}: field '{column}' {what}; the row's other fields are used")

        found = replace(fmt.knowledge(row, bad), source=SOURCES.get(fmt.name.split("-")[0], ""))
        gathered.setdefault(item_id, []).append(found)
    return SourceCoverage(label, fmt.name, len(rows), joined, problems=tuple(problems), **skipped)


def _find(
    row: _Row,
    catalog: Catalog,
    links: Links,
    by_tmdb: dict[int, int],
    by_imdb: dict[int, int],
    titles: TitleIndex,
) -> tuple[str, int | None]:
    """(how, item id) for a row; the item id is None when nothing fits, with `how` saying why when it matters."""
    if row.tmdb is not None and row.tmdb in by_tmdb:
        return "tmdbId", by_tmdb[row.tmdb]
    if row.imdb is not None and row.imdb in by_imdb:
        return "imdbId", by_imdb[row.imdb]
    if links.ml100k and row.own is not None and row.own in catalog.items:
        return ("id", row.own) if row.plausible else ("disagreeing", None)
    if not row.title or row.year is None:
        return "unmatched", None
    found = titles.find(row.title, row.year)
    if not found:
        return "unmatched", None
    # an item whose own id of a kind the row also has is another number is another film
    fits = {
        i for i in found
        if not (row.tmdb is not None and i in links.tmdb) and not (row.imdb is not None and i in links.imdb)
    }  # fmt: skip
    if len(fits) > 1:
        return "ambiguous", None
    if not fits or not row.plausible:
        return "disagreeing", None
    return "title and year", fits.pop()


def _merged(item: Item, found: list[_Knowledge]) -> Item:
    text = item.text or next((k.text for k in found if k.text), "")
    tags: dict[str, tuple[str, str]] = {}  # lowercased -> (tag, who gave it)
    given = [(t, item.tag_source(t)) for t in item.tags] + [(t, k.source) for k in found for t in k.tags]
    for tag, source in given:
        tags.setdefault(tag.lower(), (tag, source))
    keywords = {t.lower() for k in found for t in k.tags}  # never crowded out by the item's own tags
    own = set([key for key in tags if key not in keywords][: max(MAX_KNOWLEDGE_TAGS - len(keywords), 0)])
    kept = [tags[key] for key in tags if key in keywords or key in own][:MAX_KNOWLEDGE_TAGS]
    people = dict.fromkeys((*item.people, *(p for k in found for p in k.people)))
    image = item.image or next((k.image for k in found if k.image), None)
    return replace(
        item, text=text, tags=tuple(t for t, _ in kept), tag_sources=tuple(s for _, s in kept), people=tuple(people),
        image=image,
    )  # fmt: skip
