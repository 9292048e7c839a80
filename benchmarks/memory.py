"""Memory backend at scale: batched inserts, then FTS query latency vs a JSON-lines scan.

Builds ``--messages`` synthetic messages (default 1,000,000) in conversations of
``--per-conversation`` messages through the SQLite backend's bulk path
(``import_conversation``: one transaction per conversation, ``executemany`` in
batches), writing the same messages to a JSON-lines file as it goes. Then it
times typical searches through ``backend.search`` (bm25 ranking, snippets,
limit 20) and, in the same run, the naive alternative users have today: scan
the JSON-lines file for messages containing every word.

Text is drawn from a Zipf-distributed vocabulary of 20,000 made-up words, so a
few words are very common (like "the") and most are rare. "Typical" queries are
one or two words of rank 100 and beyond taken from a stored message (what
people remember and search for, so two-word queries do co-occur); "common"
queries are one of the 20 most frequent words (the worst case, every fifth
message or more matches), reported separately.

Prints one JSON object. Targets: >= 20,000 messages/s inserted, query p50 <= 20 ms.
The database lives in a temporary folder that is deleted afterwards.

    python benchmarks/memory.py                      # the full million (a few minutes)
    python benchmarks/memory.py --messages 100000    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from llf_host import Conversation
from llf_host import ConversationExport
from llf_host import Message
from llf_host import SearchQuery
from llf_host import StoredMessage
from llf_host.builtin_plugins.sqlite_memory.backend import SQLiteMemoryBackend

VOCABULARY = 20_000
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["ch", "sh", "th", "qu"]
INSERT_TARGET = 20_000.0
P50_TARGET_MS = 20.0


def make_vocabulary(rng: random.Random) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))] = None
    return list(words)


class Corpus:
    """Deterministic synthetic text with Zipf word frequencies."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = make_vocabulary(self.rng)
        self.rank = {word: rank for rank, word in enumerate(self.words)}
        weights = [1.0 / (rank + 1) ** 1.07 for rank in range(VOCABULARY)]
        self.cumulative = list(itertools.accumulate(weights))
        #: Every 97th message's words: what users remember and search for.
        self.remembered: list[list[str]] = []
        self._made = 0

    def text(self) -> str:
        count = self.rng.randint(5, 40)
        words = self.rng.choices(self.words, cum_weights=self.cumulative, k=count)
        self._made += 1
        if self._made % 97 == 0:
            self.remembered.append(words)
        return " ".join(words)

    def query(self, words: int, common: bool) -> str:
        """Words from one stored message (rank >= 100), or the most common words."""
        if common:
            return " ".join(self.rng.sample(self.words[:20], words))
        while True:
            candidates = sorted(
                {w for w in self.rng.choice(self.remembered) if self.rank[w] >= 100}
            )
            if len(candidates) >= words:
                return " ".join(self.rng.sample(candidates, words))


def conversation(corpus: Corpus, index: int, size: int, start: float) -> ConversationExport:
    messages = []
    for n in range(size):
        messages.append(
            StoredMessage(
                id=str(n),
                conversation_id="",
                parent_id=str(n - 1) if n else None,
                message=Message(role="user" if n % 2 == 0 else "assistant", content=corpus.text()),
                model=None if n % 2 == 0 else "mock/echo",
                created_at=start + n,
            )
        )
    return ConversationExport(
        Conversation(id=f"bench{index}", title=f"benchmark {index}", created_at=start), messages
    )


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(statistics.median(samples_ms), 3),
        "p99_ms": round(percentile(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3),
    }


def naive_scan(lines_path: Path, text: str, limit: int = 20) -> list[str]:
    """What a JSON-file store does: decode every line, keep those containing every word."""
    wanted = text.lower().split()
    decode = msgspec.json.Decoder().decode
    found: list[tuple[int, str]] = []
    with lines_path.open("rb") as handle:
        for line in handle:
            record = decode(line)
            tokens = record["content"].lower().split()
            if all(w in tokens for w in wanted):
                found.append((sum(tokens.count(w) for w in wanted), record["id"]))
    found.sort(reverse=True)
    return [item for _, item in found[:limit]]


async def build(
    backend: SQLiteMemoryBackend, corpus: Corpus, lines_path: Path, total: int, size: int
) -> dict[str, float]:
    encode = msgspec.json.Encoder().encode
    insert_s = 0.0
    generate_s = 0.0
    done = 0
    start = time.time() - total
    with lines_path.open("wb") as lines:
        for index in itertools.count():
            if done >= total:
                break
            t0 = time.perf_counter()
            export = conversation(corpus, index, min(size, total - done), start + done)
            for m in export.messages:
                lines.write(
                    encode({"id": f"{index}:{m.id}", "role": m.message.role,
                            "content": m.message.content, "timestamp": m.created_at})
                    + b"\n"
                )  # fmt: skip
            t1 = time.perf_counter()
            await backend.import_conversation(export)
            t2 = time.perf_counter()
            generate_s += t1 - t0
            insert_s += t2 - t1
            done += len(export.messages)
            if index % 100 == 0:
                print(f"  {done:,} messages, {done / insert_s:,.0f}/s", file=sys.stderr)
    return {"insert_s": insert_s, "generate_s": generate_s, "messages": done}


async def query_latencies(
    backend: SQLiteMemoryBackend, queries: list[str]
) -> tuple[list[float], list[int]]:
    samples: list[float] = []
    sizes: list[int] = []
    for text in queries:
        t0 = time.perf_counter()
        hits = await backend.search(SearchQuery(text, scope="messages", limit=20))
        samples.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(hits))
    return samples, sizes


async def main(args: argparse.Namespace) -> dict[str, object]:
    corpus = Corpus(args.seed)
    with tempfile.TemporaryDirectory(prefix="llf-memory-bench-") as tmp:
        folder = Path(tmp)
        backend = SQLiteMemoryBackend(folder / "memory.db")
        await backend.open()
        try:
            print(f"building {args.messages:,} messages...", file=sys.stderr)
            built = await build(
                backend, corpus, folder / "messages.jsonl", args.messages, args.per_conversation
            )
            db_mb = sum(p.stat().st_size for p in folder.glob("memory.db*")) / 1e6
            jsonl_mb = (folder / "messages.jsonl").stat().st_size / 1e6
            categories = {
                "one_word": [corpus.query(1, common=False) for _ in range(args.queries)],
                "two_word": [corpus.query(2, common=False) for _ in range(args.queries)],
                "common_word": [corpus.query(1, common=True) for _ in range(args.queries // 4)],
            }
            # Warm the page cache the way a running host would be.
            await query_latencies(backend, categories["one_word"][:10])
            results: dict[str, object] = {}
            fts_p50: dict[str, float] = {}
            for name, queries in categories.items():
                samples, sizes = await query_latencies(backend, queries)
                results[name] = {**summary(samples), "mean_hits": statistics.fmean(sizes)}
                fts_p50[name] = statistics.median(samples)
            naive: dict[str, object] = {}
            for name in ("one_word", "two_word"):
                samples = []
                for text in categories[name][: args.naive_queries]:
                    t0 = time.perf_counter()
                    naive_scan(folder / "messages.jsonl", text)
                    samples.append((time.perf_counter() - t0) * 1000)
                naive[name] = {
                    **summary(samples),
                    "fts_speedup_p50": round(statistics.median(samples) / fts_p50[name], 1),
                }
        finally:
            await backend.aclose()
    rate = built["messages"] / built["insert_s"]
    typical_p50 = max(fts_p50["one_word"], fts_p50["two_word"])
    return {
        "benchmark": "memory",
        "messages": int(built["messages"]),
        "per_conversation": args.per_conversation,
        "insert": {
            "seconds": round(built["insert_s"], 2),
            "messages_per_s": round(rate),
            "target_messages_per_s": INSERT_TARGET,
            "ratio_to_target": round(rate / INSERT_TARGET, 2),
            "generation_seconds_not_counted": round(built["generate_s"], 2),
        },
        "database_mb": round(db_mb, 1),
        "jsonl_mb": round(jsonl_mb, 1),
        "fts_query": results,
        "naive_jsonl_scan": naive,
        "targets": {
            "insert_ok": rate >= INSERT_TARGET,
            "typical_query_p50_ok": typical_p50 <= P50_TARGET_MS,
            "p50_ratio_to_target": round(typical_p50 / P50_TARGET_MS, 3),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-conversation", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200, help="FTS queries per category")
    parser.add_argument("--naive-queries", type=int, default=5, help="JSONL scans per category")
    parser.add_argument("--seed", type=int, default=7)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
