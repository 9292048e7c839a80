"""``llf-host chat`` and ``llf-host bench``: talk to a model from the terminal.

``chat`` streams the answer to stdout as it is generated (the prompt comes from
the argument or, when piped, from stdin). ``bench`` measures time to first
token and tokens per second over a few greedy runs. Both default to
``[host] default_model``, else ``llama_cpp/default`` (the embedded model).
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from typing import TYPE_CHECKING
from typing import Any

import click

from .._errors import ProviderUnavailableError
from .._types import ChatChunk
from .._types import ChatOptions
from .._types import ChatRequest
from .._types import ChatResult
from .._types import Message
from ._state import CliState
from ._state import run_async

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["DEFAULT_MODEL", "bench", "chat", "parse_options", "pick_model"]

#: The model used when neither ``-m`` nor ``[host] default_model`` names one.
DEFAULT_MODEL = "llama_cpp/default"
LOCAL_HINT = "install with pip install 'llf-host[local]'"
_STANDARD_OPTIONS = {"temperature", "top_p", "max_tokens", "stop", "seed"}


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_options(pairs: tuple[str, ...] | list[str]) -> ChatOptions:
    """``KEY=VALUE`` pairs to options; values are JSON when they parse, else strings.

    ``temperature``, ``top_p``, ``max_tokens``, ``stop`` and ``seed`` are standard
    options; anything else goes to ``extra`` for the provider (``top_k=20``).
    """
    options = ChatOptions()
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        value = _parse_value(raw)
        if key not in _STANDARD_OPTIONS:
            options.extra[key] = value
            continue
        try:
            if key == "stop":
                options.stop = [str(s) for s in value] if isinstance(value, list) else [str(value)]
            elif key in ("max_tokens", "seed"):
                setattr(options, key, int(value))
            else:
                setattr(options, key, float(value))
        except (TypeError, ValueError):
            raise click.BadParameter(
                f"{key} must be a number, got {raw!r}", param_hint="--option"
            ) from None
    return options


def pick_model(host: Host, requested: str | None) -> str:
    """The model id to use; explains a missing ``local`` extra clearly."""
    model_id = requested or host.config.host.default_model or DEFAULT_MODEL
    prefix = model_id.partition("/")[0]
    if prefix == "llama_cpp" and prefix not in host.registry.providers:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ProviderUnavailableError(
                f"{model_id} needs llama-cpp-python, which is not installed",
                hint=LOCAL_HINT,
                model=model_id,
            )
        record = host.plugins.get("llama_cpp")
        if record is not None and record.status != "ok":
            why = record.error.message if record.error else "; ".join(record.warnings)
            raise ProviderUnavailableError(
                f"the llama_cpp plugin is {record.status}: {why}",
                hint="run `llf-host plugins list` for details",
                model=model_id,
            )
    host.registry.resolve_model(model_id)
    return model_id


class _AssemblyProgress:
    """A progress bar on stderr, shown only if the model file has to be assembled."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import Progress

            self._progress = Progress(console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


async def _prepare(host: Host, model_id: str) -> None:
    """Let the provider fetch or assemble the model file first (with a progress bar)."""
    from .._guard import call_guarded

    entry, name = host.registry.resolve_model(model_id)
    prepare = getattr(entry.obj, "prepare", None)
    if prepare is None:
        return
    progress = _AssemblyProgress(f"preparing {model_id}")
    try:
        await call_guarded(entry.plugin, "prepare()", prepare, name, progress)
    finally:
        progress.close()


def _read_prompt(prompt: str | None) -> str:
    if prompt is not None:
        return prompt
    if not sys.stdin.isatty():
        text = sys.stdin.read()
        if text.strip():
            return text
    raise click.UsageError("give a PROMPT argument or pipe the prompt on stdin")


def _write_chunk(chunk: ChatChunk) -> None:
    if chunk.reasoning:
        click.secho(chunk.reasoning, nl=False, err=True, dim=True)
    if chunk.content:
        sys.stdout.write(chunk.content)
        sys.stdout.flush()


def _stats_line(result: ChatResult) -> str:
    t = result.timings
    u = result.usage
    parts = [result.model]
    if u.prompt_tokens is not None:
        parts.append(f"{u.prompt_tokens} prompt tokens")
    if u.completion_tokens is not None:
        parts.append(f"{u.completion_tokens} completion tokens")
    if t.ttft_ms is not None:
        parts.append(f"TTFT {t.ttft_ms:.0f} ms")
    if t.tokens_per_second is not None:
        parts.append(f"{t.tokens_per_second:.1f} tokens/s")
    if t.load_ms:
        parts.append(f"load {t.load_ms:.0f} ms")
    return ", ".join(parts)


@click.command()
@click.option("-m", "--model", help="Model id (prefix/name); default: [host] default_model.")
@click.option("-s", "--system", help="A system prompt.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Generation option, repeatable: temperature=0.2, max_tokens=200, top_k=20...",
)
@click.option("--stats", is_flag=True, help="Print token counts and timings to stderr.")
@click.argument("prompt", required=False)
@click.pass_obj
def chat(
    state: CliState,
    model: str | None,
    system: str | None,
    options: tuple[str, ...],
    stats: bool,
    prompt: str | None,
) -> None:
    """Send PROMPT to a model and stream the answer (reads stdin when piped)."""
    text = _read_prompt(prompt)
    chat_options = parse_options(options)

    async def run() -> ChatResult:
        from .._chat import stream_chat

        async with state.make_host() as host:
            model_id = pick_model(host, model)
            await _prepare(host, model_id)
            messages = [Message(role="user", content=text)]
            if system:
                messages.insert(0, Message(role="system", content=system))
            request = ChatRequest(
                model=model_id, model_id=model_id, messages=messages, options=chat_options
            )
            return await stream_chat(host.registry, request, on_chunk=_write_chunk)

    result = run_async(run)
    if not (result.message.content or "").endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    if stats:
        click.echo(_stats_line(result), err=True)


# -- bench ---------------------------------------------------------------------------
def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@click.command()
@click.argument("model", required=False)
@click.option("-n", "--runs", default=3, show_default=True, help="Measured runs (after a warm-up).")
@click.option("--max-tokens", default=64, show_default=True, help="Tokens generated per run.")
@click.option(
    "--prompt",
    default="Write a short story about a lighthouse keeper who finds a message in a bottle.",
    show_default=False,
    help="The prompt (the same for every run).",
)
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def bench(
    state: CliState,
    model: str | None,
    runs: int,
    max_tokens: int,
    prompt: str,
    options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Measure time to first token and tokens/s of MODEL (greedy, fixed seed)."""
    if runs < 1:
        raise click.BadParameter("must be at least 1", param_hint="--runs")
    chat_options = parse_options(options)
    chat_options.max_tokens = max_tokens
    if chat_options.temperature is None:
        chat_options.temperature = 0.0
    if chat_options.seed is None:
        chat_options.seed = 0

    async def run() -> dict[str, Any]:
        from .._chat import stream_chat

        async with state.make_host() as host:
            model_id = pick_model(host, model)
            await _prepare(host, model_id)
            request = ChatRequest(
                model=model_id,
                model_id=model_id,
                messages=[Message(role="user", content=prompt)],
                options=chat_options,
            )
            warmup = await stream_chat(host.registry, request)
            measured: list[dict[str, Any]] = []
            for index in range(runs):
                result = await stream_chat(host.registry, request)
                measured.append(
                    {
                        "run": index + 1,
                        "ttft_ms": result.timings.ttft_ms,
                        "tokens_per_second": result.timings.tokens_per_second,
                        "completion_tokens": result.usage.completion_tokens,
                        "total_ms": result.timings.total_ms,
                    }
                )
            return {
                "model": model_id,
                "max_tokens": max_tokens,
                "warmup": {
                    "load_ms": warmup.timings.load_ms,
                    "ttft_ms": warmup.timings.ttft_ms,
                    "tokens_per_second": warmup.timings.tokens_per_second,
                },
                "runs": measured,
                "median_ttft_ms": _median([r["ttft_ms"] for r in measured if r["ttft_ms"]]),
                "median_tokens_per_second": _median(
                    [r["tokens_per_second"] for r in measured if r["tokens_per_second"]]
                ),
            }

    report = run_async(run)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _print_bench(report)


def _fmt(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else "-"


def _print_bench(report: dict[str, Any]) -> None:
    warm = report["warmup"]
    click.echo(f"model: {report['model']} (greedy, {report['max_tokens']} tokens)")
    click.echo(
        f"warm-up: load {_fmt(warm['load_ms'], '.0f')} ms, TTFT {_fmt(warm['ttft_ms'], '.1f')} ms"
    )
    click.echo(f"{'run':>4} {'TTFT ms':>9} {'tokens/s':>9} {'tokens':>7}")
    for row in report["runs"]:
        click.echo(
            f"{row['run']:>4} {_fmt(row['ttft_ms'], '9.1f')} "
            f"{_fmt(row['tokens_per_second'], '9.1f')} {row['completion_tokens'] or 0:>7}"
        )
    click.echo(
        f"median: TTFT {_fmt(report['median_ttft_ms'], '.1f')} ms, "
        f"{_fmt(report['median_tokens_per_second'], '.1f')} tokens/s"
    )
