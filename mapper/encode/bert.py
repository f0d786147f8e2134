"""A numpy forward pass for BERT-family sentence encoders (mean pooling, L2 norm).

Why: importing torch, transformers and sentence-transformers costs about 4 s on
a 2-core laptop before one sentence is encoded, which dominates a one-shot
``atlas-mapper map``. all-MiniLM-L6-v2 is a 6-layer BERT; its forward pass is a
few matrix products that numpy's BLAS runs as fast as torch does on this
hardware. The weights come from the same verified ``model.safetensors`` and the
tokenizer from the same ``tokenizer.json``; a test checks that the embeddings
agree with sentence-transformers to within 1e-5 cosine (see ``_gelu_``).

Only what the packaged model uses is supported: ``model_type`` bert, absolute
positions, ``gelu``, mean pooling followed by normalisation. Anything
else is refused with :class:`~mapper.errors.ModelError` and goes through
sentence-transformers instead.
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from pathlib import Path

import numpy as np

from mapper.errors import ModelError

# Tokens per forward pass: large enough for efficient matrix products, small enough to stay in cache.
MAX_PACK_TOKENS = 512
# A small input is split into this many packs, so that several cores share it. Fixed, not the core count:
# an embedding's last bits depend on its pack, and a cluster's workers must compute the same bits as one
# process on another machine (mapper.io.cluster).
PACK_SPLIT = 4

# One encode at a time, process-wide: one encode already keeps every core busy with a pack per thread, and two
# would put two threads on each core.
_ENCODE_LOCK = threading.Lock()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}; reinstall the model package") from None


def supported(directory: Path) -> bool:
    """True when ``directory`` holds a sentence-transformers BERT model this module can run."""
    try:
        check_config(directory)
    except ModelError:
        return False
    return True


def check_config(directory: Path) -> tuple[dict, int]:
    """(the BERT config, max sequence length), or ModelError naming what is unsupported."""
    directory = Path(directory)
    config = _read_json(directory / "config.json")
    problems = []
    if config.get("model_type") != "bert":
        problems.append(f"model_type {config.get('model_type')!r}")
    if config.get("hidden_act") != "gelu":
        problems.append(f"hidden_act {config.get('hidden_act')!r}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        problems.append("non-absolute positions")
    modules = _read_json(directory / "modules.json") if (directory / "modules.json").is_file() else []
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds[:3] != ["Transformer", "Pooling", "Normalize"] or len(kinds) != 3:
        problems.append(f"modules {kinds}")
    pooling = _read_json(directory / "1_Pooling" / "config.json") if (directory / "1_Pooling").is_dir() else {}
    if not pooling.get("pooling_mode_mean_tokens") or any(
        pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    ):
        problems.append("pooling other than mean")
    if problems:
        raise ModelError(f"{directory} is not a plain BERT mean-pooling encoder ({', '.join(problems)})")
    st_config = directory / "sentence_bert_config.json"
    max_len = _read_json(st_config).get("max_seq_length", 512) if st_config.is_file() else 512
    return config, int(min(max_len, config.get("max_position_embeddings", 512)))


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


def _gelu_(h: np.ndarray) -> np.ndarray:
    """GELU in its tanh form, in place.

    The model was trained with the erf form; numpy has no erf, and scipy's runs at a third of
    the speed of everything else in a layer put together. The two forms differ by < 5e-4 per
    activation, and the final embeddings by < 1e-5 cosine (checked in the tests).
    """
    t = h * h
    t *= 0.044715
    t += 1.0
    t *= h
    t *= _SQRT_2_OVER_PI
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    h *= t
    return h


def read_weights(directory: Path, weights_bytes: bytes | None = None) -> dict:
    """The weights of a plain BERT encoder as float32 arrays, laid out for ``x @ W`` products.

    ``weights_bytes``: the safetensors file already read (and verified) by the caller. Shared by the
    numpy forward pass and the ONNX export (:mod:`mapper.encode.onnx_export`), so both run the same numbers.
    """
    from safetensors.numpy import load

    directory = Path(directory)
    config, max_length = check_config(directory)
    try:
        if weights_bytes is None:
            weights_bytes = (directory / "model.safetensors").read_bytes()
        weights = load(weights_bytes)
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"cannot read {directory / 'model.safetensors'}: {exc}") from None
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

    def get(name: str) -> np.ndarray:
        try:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)
        except KeyError:
            raise ModelError(f"{directory} has no weight {prefix + name}; it is not a BERT model") from None

    layers = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        qkv = [get(f"{p}attention.self.{n}.weight") for n in ("query", "key", "value")]
        layers.append({
            # weights stored transposed once, so every product is x @ W
            "qkv": np.ascontiguousarray(np.concatenate(qkv).T),
            "qkv_b": np.concatenate([get(f"{p}attention.self.{n}.bias") for n in ("query", "key", "value")]),
            "out": np.ascontiguousarray(get(f"{p}attention.output.dense.weight").T),
            "out_b": get(f"{p}attention.output.dense.bias"),
            "norm1": (get(f"{p}attention.output.LayerNorm.weight"), get(f"{p}attention.output.LayerNorm.bias")),
            "up": np.ascontiguousarray(get(f"{p}intermediate.dense.weight").T),
            "up_b": get(f"{p}intermediate.dense.bias"),
            "down": np.ascontiguousarray(get(f"{p}output.dense.weight").T),
            "down_b": get(f"{p}output.dense.bias"),
            "norm2": (get(f"{p}output.LayerNorm.weight"), get(f"{p}output.LayerNorm.bias")),
        })
    return {
        "word": get("embeddings.word_embeddings.weight"),
        "position": get("embeddings.position_embeddings.weight"),
        "token_type": get("embeddings.token_type_embeddings.weight")[0],
        "embed_norm": (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias")),
        "layers": layers,
        "heads": int(config["num_attention_heads"]),
        "eps": float(config.get("layer_norm_eps", 1e-12)),
        "max_length": max_length,
    }


def load_tokenizer(directory: Path, max_length: int):
    """The model's fast tokenizer, truncating at ``max_length`` and never padding (callers pack or pad)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(Path(directory) / "tokenizer.json"))
    except Exception as exc:
        raise ModelError(f"cannot read {Path(directory) / 'tokenizer.json'}: {exc}") from None
    # the file asks for fixed padding to 128
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


class NumpyBert:
    """BERT encoder + mean pooling + normalisation, float32, no autograd, no torch."""

    def __init__(self, directory: Path, weights_bytes: bytes | None = None):
        """``weights_bytes``: the safetensors file already read (and verified) by the caller."""
        weights = read_weights(directory, weights_bytes)
        self.max_length, self.heads, self.eps = weights["max_length"], weights["heads"], weights["eps"]
        self.word, self.position, self.token_type = weights["word"], weights["position"], weights["token_type"]
        self.embed_norm, self.layers = weights["embed_norm"], weights["layers"]
        self.dim = self.word.shape[1]
        self.tokenizer = load_tokenizer(directory, self.max_length)

    def _norm_(self, x: np.ndarray, weight_bias) -> np.ndarray:
        """Layer normalisation, in place: large temporaries cost more than the arithmetic here."""
        x -= x.mean(axis=-1, keepdims=True)
        std = np.sqrt(np.einsum("ij,ij->i", x, x)[:, None] / x.shape[-1] + self.eps)
        x /= std
        x *= weight_bias[0]
        x += weight_bias[1]
        return x

    def forward(self, sequences: list[list[int]]) -> np.ndarray:
        """Normalised mean-pooled embeddings for a pack of token sequences, longest first.

        Tokens are packed, not padded: every per-token step (the matrix products, layer norms
        and GELU) runs on exactly the real tokens, and only attention, which mixes tokens of
        one sequence, is done per sequence on a padded (sequences x heads x L x L) block.
        """
        dim, heads = self.dim, self.heads
        head_dim = dim // heads
        scale = float(1.0 / np.sqrt(head_dim))  # a Python float keeps everything in float32
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        n, longest = len(sequences), int(lengths.max())
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        tokens = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        positions = np.concatenate([np.arange(k) for k in lengths])
        # (n, longest) -> row in the packed matrix; padding points at an extra all-zero row
        valid = np.arange(longest)[None, :] < lengths[:, None]
        gather = np.where(valid, starts[:, None] + np.arange(longest)[None, :], len(tokens))
        pad_bias = np.where(valid, 0.0, -1e9).astype(np.float32)[:, None, None, :]

        x = self.word[tokens] + self.position[positions] + self.token_type
        x = self._norm_(x, self.embed_norm)
        for layer in self.layers:
            qkv = x @ layer["qkv"]
            qkv += layer["qkv_b"]
            padded = np.vstack([qkv, np.zeros((1, qkv.shape[1]), np.float32)])[gather]  # (n, L, 3D)
            q, k, v = (padded[..., j * dim:(j + 1) * dim].reshape(n, longest, heads, head_dim).transpose(0, 2, 1, 3)
                       for j in range(3))
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += pad_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3)[valid].reshape(len(tokens), dim)
            attended = context @ layer["out"]
            attended += layer["out_b"]
            attended += x
            x = self._norm_(attended, layer["norm1"])
            hidden = x @ layer["up"]
            hidden += layer["up_b"]
            out = _gelu_(hidden) @ layer["down"]
            out += layer["down_b"]
            out += x
            x = self._norm_(out, layer["norm2"])
        pooled = np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(np.float32)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _packs(self, lengths: list[int]) -> list[list[int]]:
        """Row indices in length-sorted packs (longest first, ties by position: deterministic).

        A pack holds up to MAX_PACK_TOKENS tokens, and a small input is split into PACK_SPLIT packs.
        Packs depend on the texts alone, never on the machine.
        """
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        budget = max(1, min(MAX_PACK_TOKENS, -(-sum(lengths) // PACK_SPLIT)))
        packs, current, used = [], [], 0
        for i in order:
            if current and used + lengths[i] > budget:
                packs.append(current)
                current, used = [], 0
            current.append(i)
            used += lengths[i]
        if current:
            packs.append(current)
        return packs

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, one row each; safe to call from several threads."""
        with _ENCODE_LOCK:
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        packs = self._packs([len(ids) for ids in encodings])

        def run(pack: list[int]) -> tuple[list[int], np.ndarray]:
            return pack, self.forward([encodings[i] for i in pack])

        from concurrent.futures import ThreadPoolExecutor

        from mapper.encode.threads import one_blas_thread

        # Element-wise numpy runs on one core, BLAS on all of them. One pack per thread with
        # single-threaded BLAS keeps every core busy, and gives the same bits however many there are.
        threads = min(self.threads, len(packs))
        with one_blas_thread(), ThreadPoolExecutor(threads) as pool:
            for rows, vectors in pool.map(run, packs):
                out[rows] = vectors
        return out

    @cached_property
    def threads(self) -> int:
        """Packs encoded at once: the BLAS threads this process was given (a Dask worker gets 1), else the cores."""
        from mapper.encode.threads import blas_threads

        return blas_threads()
