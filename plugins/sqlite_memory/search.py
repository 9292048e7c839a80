"""Full-text search: the shared query syntax translated to FTS5, ranked by bm25.

:meth:`llf_host.SearchQuery.parse` gives the query in normal form (groups that
must all match, each a choice of terms, plus excluded terms); this module turns
it into an FTS5 expression in which every word is a quoted string, so no user
input is ever parsed as FTS5 syntax.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import msgspec

from llf_host import ParsedQuery
from llf_host import QueryTerm
from llf_host import SearchHit
from llf_host import SearchQuery

if TYPE_CHECKING:
    import aiosqlite


__all__ = ["fts_expression", "search"]

_SNIPPET_TOKENS = 16
_decode_tags = msgspec.json.Decoder(list[str]).decode


def _term(term: QueryTerm) -> str:
    # Words only hold letters and digits (search_words), so quoting is safe.
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")


def fts_expression(parsed: ParsedQuery) -> str:
    """The FTS5 MATCH expression for a parsed query (which must not be empty)."""
    required = " AND ".join(
        "(" + " OR ".join(_term(t) for t in group) + ")" for group in parsed.groups
    )
    if not parsed.excluded:
        return required
    excluded = " OR ".join(_term(t) for t in parsed.excluded)
    return f"({required}) NOT ({excluded})"


def _range(column: str, query: SearchQuery, where: list[str], params: list[Any]) -> None:
    if query.since is not None:
        where.append(f"{column} >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append(f"{column} < ?")
        params.append(query.until)


async def _messages(
    conn: aiosqlite.Connection, query: SearchQuery, expression: str, window: int
) -> list[SearchHit]:
    where = ["messages_fts MATCH ?", "m.deleted_at IS NULL", "c.deleted_at IS NULL"]
    params: list[Any] = [query.highlight_start, query.highlight_end, expression]
    for column, value in (
        ("m.conversation_id", query.conversation_id),
        ("m.role", query.role),
        ("m.model", query.model),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    _range("m.created_at", query, where, params)
    params.append(window)
    rows = await conn.execute_fetchall(
        f"""SELECT m.id, m.conversation_id, m.role, m.model, m.created_at,
               snippet(messages_fts, 0, ?, ?, '…', {_SNIPPET_TOKENS}), bm25(messages_fts)
        FROM messages_fts
        JOIN messages m ON m.seq = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE {" AND ".join(where)}
        ORDER BY bm25(messages_fts), m.seq DESC
        LIMIT ?""",
        params,
    )
    return [
        SearchHit(
            kind="message",
            id=r[0],
            conversation_id=r[1],
            role=r[2],
            model=r[3],
            created_at=r[4],
            snippet=r[5] or "",
            rank=-float(r[6]),
        )
        for r in rows
    ]


async def _memories(
    conn: aiosqlite.Connection, query: SearchQuery, expression: str, window: int
) -> list[SearchHit]:
    where = ["memories_fts MATCH ?", "k.deleted_at IS NULL"]
    params: list[Any] = [query.highlight_start, query.highlight_end, expression]
    tags = sorted(set(query.tags or []))
    if tags:
        marks = ", ".join("?" for _ in tags)
        where.append(
            f"(SELECT COUNT(*) FROM memory_tags t WHERE t.memory_id = k.id "
            f"AND t.tag IN ({marks})) = ?"
        )
        params.extend([*tags, len(tags)])
    _range("k.created_at", query, where, params)
    params.append(window)
    rows = await conn.execute_fetchall(
        f"""SELECT k.id, k.tags, k.created_at,
               snippet(memories_fts, 0, ?, ?, '…', {_SNIPPET_TOKENS}), bm25(memories_fts)
        FROM memories_fts
        JOIN memories k ON k.seq = memories_fts.rowid
        WHERE {" AND ".join(where)}
        ORDER BY bm25(memories_fts), k.seq DESC
        LIMIT ?""",
        params,
    )
    return [
        SearchHit(
            kind="memory",
            id=r[0],
            tags=_decode_tags(r[1]),
            created_at=r[2],
            snippet=r[3] or "",
            rank=-float(r[4]),
        )
        for r in rows
    ]


async def search(conn: aiosqlite.Connection, query: SearchQuery) -> list[SearchHit]:
    """Live messages and/or memories matching ``query``, best first."""
    parsed = query.parse()
    if parsed.empty:
        return []
    expression = fts_expression(parsed)
    window = query.offset + query.limit
    hits: list[SearchHit] = []
    if query.wants("message"):
        hits.extend(await _messages(conn, query, expression, window))
    if query.wants("memory"):
        hits.extend(await _memories(conn, query, expression, window))
    if query.wants("message") and query.wants("memory"):
        hits.sort(key=lambda h: -h.rank)
    return hits[query.offset : window]
