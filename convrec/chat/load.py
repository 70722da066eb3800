"""Open a built index/ and wire a Recommender to it, checking that the index matches the settings.

The encoder comes from `convrec.retrieve.build.make_encoder`, the one `build-index` used, so that
queries land in the space the items were embedded in.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

from convrec.chat.recommender import Recommender
from convrec.core.config import Settings
from convrec.core.errors import IndexMissing
from convrec.data.catalog import Catalog
from convrec.data.profiles import PROFILES, on_items, read_profiles
from convrec.llm.backends import make_llm
from convrec.llm.base import LLM
from convrec.retrieve import build
from convrec.retrieve.cf import load_cf
from convrec.retrieve.conv import load_conv
from convrec.retrieve.embed import Encoder
from convrec.retrieve.images import load_image_index
from convrec.retrieve.index import ItemIndex


def load_recommender(
    settings: Settings, *, llm: LLM | Literal["auto"] | None = "auto", encoder: Encoder | None = None
) -> Recommender:
    """Open index/ and wire a Recommender; `llm="auto"` builds the one the settings name."""
    index_dir = Path(settings.index_dir)
    manifest = build.read_manifest(index_dir)
    noun = manifest.get("catalog", {}).get("domain_noun")
    if noun and "domain_noun" not in settings.model_fields_set:  # the noun the index was built for
        settings = settings.model_copy(update={"domain_noun": noun})
    built_with = manifest["inputs"]["embed_model"]
    if built_with != settings.embed_model:
        raise IndexMissing(
            f"{index_dir}/ was built with {built_with} but the config asks for {settings.embed_model}: "
            "run `convrec build-index`."
        )
    try:
        catalog = Catalog.load(index_dir / "catalog")
        index = ItemIndex.load(index_dir, manifest["index"]["kind"], tuning=manifest["index"].get("tuning"))
        cf = load_cf(index_dir, manifest["inputs"]["cf"])
        images = load_image_index(index_dir, manifest.get("images"), settings, index.ids)
        conv = load_conv(index_dir, index.ids)
    except (OSError, ValueError, RuntimeError) as e:
        raise IndexMissing(f"{index_dir}/ is incomplete or damaged ({e}): run `convrec build-index --force`.") from e
    encoder = encoder or build.make_encoder(settings)
    if encoder.dim != index.dim:
        raise IndexMissing(
            f"{index_dir}/ holds {index.dim}-d vectors but {encoder.name} makes {encoder.dim}-d ones: run `convrec build-index`."
        )
    llm_obj = make_llm(settings) if isinstance(llm, str) else llm
    profiles = read_profiles(index_dir / PROFILES, catalog.items)
    catalog = replace(catalog, items=on_items(catalog.items, profiles))  # the one item record every stage reads
    rec = Recommender(catalog, index, cf, encoder, llm_obj, settings, images=images, conv=conv)
    rec.attributes.load_vectors(index_dir, encoder)  # the names' vectors the build encoded
    return rec
