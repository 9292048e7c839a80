"""The mlx provider with a tiny random-weight model built here (no hub access).

The model is a 2-layer Llama-architecture network with random weights and a
300-token byte-level BPE tokenizer trained on one sentence, saved in MLX format
(config.json, model.safetensors, tokenizer files with a ChatML template). Its
answers are noise, but they are real mlx-lm generations through the provider.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llf_host import ChatOptions
from llf_host import ChatRequest
from llf_host import Message
from llf_host import ModelNotFoundError
from llf_host._chat import stream_chat
from llf_host.testing import isolated_host
from tests.engines.conftest import MLX_PLUGIN
from tests.engines.conftest import _importable

pytestmark = [
    pytest.mark.mlx,
    pytest.mark.skipif(
        not (_importable("mlx_lm") and _importable("tokenizers")),
        reason="needs mlx-lm: pip install -e '.[mlx]' (mlx[cpu] on Linux)",
    ),
]

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_mlx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama
    from tokenizers import Tokenizer
    from tokenizers import decoders
    from tokenizers import models
    from tokenizers import pre_tokenizers
    from tokenizers import trainers
    from transformers import PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-mlx")
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(["hello world, the quick brown fox jumps over the lazy dog"], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)
    config = {
        "model_type": "llama",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "intermediate_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "vocab_size": len(tokenizer),
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "eos_token_id": tokenizer.eos_token_id,
    }
    (folder / "config.json").write_text(json.dumps(config))
    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    mx.eval(model.parameters())
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    return folder


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def request(model: str, **options) -> ChatRequest:
    return ChatRequest(
        model=model,
        model_id=model,
        messages=[Message(role="user", content="hello")],
        options=ChatOptions(**{"temperature": 0, "seed": 1, "max_tokens": 8, **options}),
    )


async def test_tiny_model_generates_through_the_provider(tmp_path, tiny_mlx_model):
    config = {"plugins": {"mlx": {"models": {"tiny": str(tiny_mlx_model)}}}}
    async with isolated_host(tmp_path / "home", plugins=[MLX_PLUGIN], config=config) as host:
        assert host.plugins["mlx"].status == "ok", host.plugins["mlx"].error
        provider = host.registry.providers["mlx"].obj
        assert [m.id for m in await provider.list_models()] == ["mlx/tiny"]
        chunks = []
        result = await stream_chat(host.registry, request("mlx/tiny"), on_chunk=chunks.append)
        assert result.usage.completion_tokens == 8
        assert result.usage.prompt_tokens and result.usage.prompt_tokens > 3
        assert "".join(c.content for c in chunks) == result.message.content
        t = result.timings
        assert t.tokens_per_second and t.prompt_tokens_per_second and t.peak_memory_mb
        assert t.load_ms and t.load_ms > 0 and t.ttft_ms
        again = await stream_chat(host.registry, request("mlx/tiny"))
        assert again.message.content == result.message.content
        assert again.timings.load_ms == 0
        rendered = provider._loaded["tiny"].model.render([{"role": "user", "content": "hi"}])
        assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        assert (await provider.list_models())[0].loaded is True
        assert await provider.unload("tiny") is True
        assert await provider.unload("tiny") is False


async def test_unknown_or_invalid_model_folders(tmp_path, tiny_mlx_model):
    config = {"plugins": {"mlx": {"models": {"empty": str(tmp_path)}}}}
    async with isolated_host(tmp_path / "home", plugins=[MLX_PLUGIN], config=config) as host:
        with pytest.raises(ModelNotFoundError, match="not an MLX model folder"):
            await stream_chat(host.registry, request("mlx/empty"))
        with pytest.raises(ModelNotFoundError) as caught:
            await stream_chat(host.registry, request("mlx/nope"))
        assert "mlx_lm.convert" in caught.value.hint


async def test_model_dirs_are_scanned(tmp_path, tiny_mlx_model):
    config = {"plugins": {"mlx": {"model_dirs": [str(tiny_mlx_model.parent)]}}}
    async with isolated_host(tmp_path / "home", plugins=[MLX_PLUGIN], config=config) as host:
        names = [m.name for m in await host.registry.providers["mlx"].obj.list_models()]
        assert tiny_mlx_model.name in names
