"""The llama_cpp plugin's pure parts: stops, chat formats, GGUF headers, settings,
the catalog, the embedded-model assembly and the option schema. No model needed."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from llf_host import ChatOptions
from llf_host import ConfigError
from llf_host import ModelNotFoundError
from llf_host import ProviderError
from llf_host import StopMatcher
from tests.engines.conftest import LLAMA_PLUGIN
from tests.engines.plugin_modules import load_plugin_module

chat_format = load_plugin_module(LLAMA_PLUGIN, "chat_format")
gguf_meta = load_plugin_module(LLAMA_PLUGIN, "gguf_meta")
settings_mod = load_plugin_module(LLAMA_PLUGIN, "settings")
catalog_mod = load_plugin_module(LLAMA_PLUGIN, "catalog")
embedded = load_plugin_module(LLAMA_PLUGIN, "embedded")
sampling = load_plugin_module(LLAMA_PLUGIN, "sampling")


# -- stop sequences ----------------------------------------------------------------
def _expected_cut(pieces: list[str], stop_list: list[str]) -> tuple[str, bool]:
    """What a stream must yield: generation ends at the first piece after which some
    stop is complete; the text is cut where the earliest of those stops begins.

    (A longer stop that began earlier but would complete only later never does:
    the engine stops generating at the first complete stop.)
    """
    text = ""
    for piece in pieces:
        text += piece
        hits = [text.find(s) for s in stop_list if s and s in text]
        if hits:
            return text[: min(hits)], True
    return text, False


@example(pieces=["ab", "b"], stop_list=["b", "abb"])  # "b" completes first: "a" is sent
@given(
    pieces=st.lists(st.text(alphabet="abc\n", max_size=6), max_size=12),
    stop_list=st.lists(st.text(alphabet="abc\n", min_size=1, max_size=4), max_size=3),
)
def test_stop_matcher_streams_exactly_the_text_before_the_first_stop(pieces, stop_list):
    matcher = StopMatcher(stop_list)
    emitted = []
    stopped = False
    for piece in pieces:
        out, stopped = matcher.feed(piece)
        emitted.append(out)
        if stopped:
            break
    if not stopped:
        emitted.append(matcher.flush())
    assert ("".join(emitted), stopped) == _expected_cut(pieces, stop_list)


def test_stop_matcher_holds_back_only_a_possible_stop_prefix():
    matcher = StopMatcher(["<end>"])
    assert matcher.feed("hello <e") == ("hello ", False)
    assert matcher.feed("x") == ("<ex", False)
    assert matcher.feed("<en") == ("", False)
    assert matcher.feed("d> tail") == ("", True)


# -- chat formats --------------------------------------------------------------------
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a colour."},
]


def test_gemma_format_uses_turn_markers_and_folds_the_system_prompt():
    rendered = chat_format.render_gemma(CONVERSATION)
    assert rendered.text == (
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nName a colour.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    assert rendered.stop == ["<end_of_turn>"]
    assert rendered.add_bos


def test_chatml_and_llama3_formats_end_with_the_assistant_header():
    chatml = chat_format.render_chatml(CONVERSATION).text
    assert chatml.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert chatml.endswith("<|im_start|>assistant\n")
    llama3 = chat_format.render_llama3(CONVERSATION).text
    assert llama3.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" in llama3


@pytest.mark.parametrize(
    ("tokens", "arch", "expected"),
    [
        ({"<start_of_turn>"}, "gemma3", "gemma"),
        ({"<|im_start|>"}, "llama", "chatml"),
        ({"<|start_header_id|>"}, "llama", "llama-3"),
        ({"<|assistant|>"}, "phi3", "phi-3"),
        (set(), "gemma2", "gemma"),
        (set(), "qwen2", "chatml"),
        (set(), "mystery", "chatml"),
    ],
)
def test_fallback_is_chosen_from_special_tokens_then_architecture(tokens, arch, expected):
    name, why = chat_format.fallback_for(arch, lambda text: text in tokens)
    assert name == expected
    assert why.startswith("fallback:")
    assert name != "llama-2"


# -- GGUF headers --------------------------------------------------------------------
def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _write_gguf(path: Path, pairs: list[tuple[str, int, bytes]]) -> None:
    body = b"".join(_gguf_string(k) + struct.pack("<I", t) + v for k, t, v in pairs)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + body)


def test_gguf_header_is_read_until_the_vocabulary(tmp_path):
    path = tmp_path / "m.gguf"
    tokens = struct.pack("<IQ", 8, 2) + _gguf_string("a") + _gguf_string("b")
    _write_gguf(
        path,
        [
            ("general.architecture", 8, _gguf_string("gemma3")),
            ("gemma3.context_length", 4, struct.pack("<I", 32768)),
            ("gemma3.attention.head_count_kv", 9, struct.pack("<IQ", 5, 2) + b"\1\0\0\0\2\0\0\0"),
            ("tokenizer.ggml.tokens", 9, tokens),
            ("tokenizer.chat_template", 8, _gguf_string("{{ x }}")),
        ],
    )
    meta = gguf_meta.read_gguf_metadata(path)
    assert meta["general.architecture"] == "gemma3"
    assert meta["gemma3.context_length"] == 32768
    assert meta["gemma3.attention.head_count_kv"] == [1, 2]
    assert "tokenizer.chat_template" not in meta
    full = gguf_meta.read_gguf_metadata(path, want_template=True)
    assert full["tokenizer.chat_template"] == "{{ x }}"


@pytest.mark.parametrize("content", [b"", b"GGML" + b"\0" * 20, b"GGUF\3\0\0\0\0"])
def test_gguf_reader_rejects_non_gguf_files(tmp_path, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(gguf_meta.GGUFError):
        gguf_meta.read_gguf_metadata(path)


# -- settings and catalog --------------------------------------------------------------
def test_settings_accept_path_shorthand_and_reject_bad_types():
    parsed = settings_mod.parse_settings({"models": {"tiny": "~/m.gguf"}, "n_threads": 3})
    assert parsed.models["tiny"].path == "~/m.gguf"
    assert parsed.threads() == 3
    assert parsed.threads_batch() == 3
    with pytest.raises(ConfigError, match="llama_cpp"):
        settings_mod.parse_settings({"n_ctx": "big"})


def test_default_threads_leave_a_core_free():
    threads = settings_mod.default_threads()
    usable = min(settings_mod.physical_cores(), settings_mod.available_cores())
    assert 1 <= threads <= max(1, usable - 1)
    assert threads <= settings_mod.MAX_DEFAULT_THREADS


def test_catalog_scans_model_dirs(tmp_path):
    models = tmp_path / "models"
    (models / "org" / "repo").mkdir(parents=True)
    (models / "small.gguf").write_bytes(b"GGUF")
    (models / "org" / "repo" / "big-00001-of-00002.gguf").write_bytes(b"GGUF")
    (models / "org" / "repo" / "big-00002-of-00002.gguf").write_bytes(b"GGUF")
    (models / "org" / "repo" / "mmproj-f16.gguf").write_bytes(b"GGUF")
    (models / "notes.txt").write_text("x")
    settings = settings_mod.parse_settings(
        {"model_dirs": [str(models)], "embedded_model": False, "models": {"small": "/elsewhere"}}
    )
    entries = catalog_mod.Catalog(settings).refresh()
    assert sorted(entries) == ["big", "small"]
    assert entries["small"].source == "config"
    assert entries["big"].path.name == "big-00001-of-00002.gguf"


def test_missing_model_file_names_the_config_key(tmp_path):
    settings = settings_mod.parse_settings(
        {"models": {"ghost": str(tmp_path / "ghost.gguf")}, "embedded_model": False}
    )
    catalog = catalog_mod.Catalog(settings)
    with pytest.raises(ModelNotFoundError) as caught:
        catalog.get("ghost")
    assert "[plugins.llama_cpp.models.ghost]" in caught.value.hint
    assert caught.value.data["path"].endswith("ghost.gguf")
    with pytest.raises(ModelNotFoundError, match="no model named 'nope'"):
        catalog.get("nope")


def test_default_alias_points_at_the_configured_model(tmp_path):
    model = tmp_path / "a.gguf"
    model.write_bytes(b"GGUF")
    settings = settings_mod.parse_settings(
        {"models": {"a": str(model)}, "default_model": "a", "embedded_model": False}
    )
    assert catalog_mod.Catalog(settings).get("default").name == "a"


# -- embedded model assembly -------------------------------------------------------------
def _chunks(tmp_path: Path) -> tuple[list[Path], str]:
    parts = []
    for index, data in enumerate([b"a" * 3000, b"b" * 5000, b"c" * 10]):
        part = tmp_path / f"part{index}"
        part.write_bytes(data)
        parts.append(part)
    digest = hashlib.sha256(b"a" * 3000 + b"b" * 5000 + b"c" * 10).hexdigest()
    return parts, digest


def test_assembly_verifies_the_checksum_and_reports_progress(tmp_path):
    parts, digest = _chunks(tmp_path)
    seen: list[tuple[int, int]] = []
    target = embedded.assemble_model(
        parts, digest, tmp_path / "out" / "m.gguf", lambda d, t: seen.append((d, t))
    )
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert seen[-1] == (8010, 8010)
    assert embedded.is_verified(target, digest)
    for part in parts:
        part.unlink()
    assert embedded.assemble_model(parts, digest, target) == target


def test_assembly_with_a_bad_checksum_leaves_nothing_behind(tmp_path):
    parts, _digest = _chunks(tmp_path)
    target = tmp_path / "out" / "m.gguf"
    with pytest.raises(ProviderError, match="damaged") as caught:
        embedded.assemble_model(parts, "0" * 64, target)
    assert "pip install --force-reinstall" in caught.value.hint
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == ["m.gguf.lock"]


def test_a_corrupted_assembled_file_is_rebuilt(tmp_path):
    parts, digest = _chunks(tmp_path)
    target = embedded.assemble_model(parts, digest, tmp_path / "m.gguf")
    target.write_bytes(b"garbage")
    assert embedded.assemble_model(parts, digest, target) == target
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest


# -- options ----------------------------------------------------------------------------
def test_options_schema_is_valid_json_schema_and_maps_to_the_sampler():
    jsonschema.Draft202012Validator.check_schema(sampling.EXTRA_OPTIONS_SCHEMA)
    plan = sampling.plan_sampling(
        ChatOptions(temperature=0, max_tokens=7, stop=["x"], seed=3, extra={"top_k": 5, "foo": 1}),
        512,
    )
    assert plan.generate_kwargs["temp"] == 0
    assert plan.generate_kwargs["top_k"] == 5
    assert plan.max_tokens == 7
    assert plan.stop == ["x"]
    assert plan.seed == 3
    assert sampling.plan_sampling(ChatOptions(), 512).max_tokens == 512
    assert sampling.plan_sampling(ChatOptions(max_tokens=0), 512).max_tokens is None


def test_a_wrongly_typed_extra_option_is_an_error_naming_it():
    with pytest.raises(ProviderError, match="top_k"):
        sampling.plan_sampling(ChatOptions(extra={"top_k": "many"}))


# -- cold start ---------------------------------------------------------------------------
def test_loading_the_plugin_does_not_import_llama_cpp(tmp_path):
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from llf_host.testing import isolated_host\n"
        "async def main():\n"
        f"    async with isolated_host(Path({str(tmp_path)!r}), plugins=[Path({str(LLAMA_PLUGIN)!r})]) as host:\n"
        "        assert host.plugins['llama_cpp'].status == 'ok'\n"
        "        await host.registry.providers['llama_cpp'].obj.list_models()\n"
        "    print('llama_cpp' in sys.modules, 'numpy' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["False", "False"]


# -- config schema in the manifest ---------------------------------------------------------
@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"n_threads": 0}, "n_threads"),
        ({"models": {"x": {"pth": "/a.gguf"}}}, "models.x"),
        ({"n_ctx": "big"}, "n_ctx"),
    ],
)
async def test_invalid_settings_fail_the_plugin_with_the_field(make_host, section, field):
    host = await make_host(plugins=[LLAMA_PLUGIN], config={"plugins": {"llama_cpp": section}})
    record = host.plugins["llama_cpp"]
    assert record.status == "failed"
    assert record.error.data["field"] == field
    assert "llama_cpp" not in host.registry.providers
