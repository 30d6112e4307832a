"""Detoxify-format checkpoints with random weights, for tests and benchmarks only.

Trained weights cannot be downloaded on the build machines, yet the real loading, verification,
ONNX and batching code must run. :func:`build` writes what a Detoxify release looks like from the
outside: a checkpoint whose training config names a Hugging Face base model by repository id, and
that repository's files laid out as the Hub serves them (``<hub>/<repo>/resolve/main/<file>``),
including the Hub files' traps (no label count in ``config.json``, no ``model_max_length``).

``size="tiny"`` is a 2-layer model with a small vocabulary (milliseconds per batch);
``size="base"`` is the real architecture's shape (BERT base: 12 layers, 768 wide, 110 M
parameters) for speed measurements. The scores mean nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The checkpoint class lists detoxify's releases use.
JIGSAW_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
UNBIASED_CLASSES = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
)


@dataclass(frozen=True, slots=True)
class Family:
    config_class: str
    model_name: str
    tokenizer_name: str


FAMILIES: dict[str, Family] = {
    "bert": Family("BertConfig", "BertForSequenceClassification", "BertTokenizer"),
    "roberta": Family("RobertaConfig", "RobertaForSequenceClassification", "RobertaTokenizer"),
    "xlm-roberta": Family(
        "XLMRobertaConfig", "XLMRobertaForSequenceClassification", "XLMRobertaTokenizer"
    ),
    "albert": Family("AlbertConfig", "AlbertForSequenceClassification", "AlbertTokenizer"),
}

#: Each released model's family, classes and output count (the "unbiased" heads have 16
#: outputs: 7 toxicity labels, then identity mentions detoxify does not report).
SHAPES: dict[str, tuple[str, tuple[str, ...], int]] = {
    "original": ("bert", JIGSAW_CLASSES, 6),
    "unbiased": ("roberta", UNBIASED_CLASSES, 16),
    "multilingual": ("xlm-roberta", UNBIASED_CLASSES, 16),
    "original-small": ("albert", JIGSAW_CLASSES, 6),
    "unbiased-small": ("albert", UNBIASED_CLASSES, 16),
}

# Enough text to train small tokenizers that split news comments into plausible pieces.
_CORPUS = (
    "thanks for the clear explainer on the council budget and the new bus fares",
    "you are an idiot and this is the most stupid article i have read all year",
    "great reporting, the harbour plans finally make sense to me",
    "what a disgrace, these people should be ashamed of themselves",
    "i disagree with the conclusion but the numbers look right",
    "check out my channel for free money http://bit.ly/xyz now",
    "der artikel ist gut geschrieben, danke",
    "c'est une honte pour toute la ville",
    "el alcalde no dijo nada sobre el presupuesto",
    "shut up you moron, nobody cares what you think",
    "my family was affected by the floods too, thank you for covering it",
    "the school lunch programme deserves more funding",
)


@dataclass(frozen=True, slots=True)
class Synthetic:
    """What :func:`build` wrote."""

    model: str
    #: The checkpoint, named as detoxify names releases (``<stem>-<sha256 prefix>.ckpt``).
    checkpoint: Path
    #: Root of a Hub-shaped tree: ``hub/<repo>/resolve/main/<file>``.
    hub: Path
    repo: str
    sha256: str


def build(
    model: str,
    out: Path,
    *,
    size: str = "tiny",
    vocab: Path | None = None,
    seed: int = 0,
    key_prefix: str = "",
) -> Synthetic:
    """Write a random-weight checkpoint shaped like Detoxify's ``model`` release under ``out``.

    ``vocab``: a WordPiece ``vocab.txt`` for BERT (e.g. bert-base-uncased's, for realistic token
    counts); default a small built one. ``key_prefix`` prepends to every state-dict key, which
    reproduces a badly converted checkpoint (its weights would silently not load).
    """
    import torch
    import transformers

    family_name, classes, outputs = SHAPES[model]
    family = FAMILIES[family_name]
    repo = f"synthetic/{family_name}-{size}"
    files = out / "hub" / repo / "resolve" / "main"
    files.mkdir(parents=True, exist_ok=True)
    vocab_size = _write_tokenizer(family_name, files, vocab)

    dims: dict[str, Any]
    if size == "tiny":
        dims = dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            initializer_range=0.2,
        )
        if family_name == "albert":
            dims["embedding_size"] = 16
    elif size == "base":
        dims = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12)
        dims["intermediate_size"] = 3072
        if family_name == "albert":
            dims["embedding_size"] = 128
    else:
        raise ValueError(f"size must be tiny or base, not {size!r}")
    positions = 514 if family_name in {"roberta", "xlm-roberta"} else 512
    special = _special_ids(family_name)
    config = getattr(transformers, family.config_class)(
        vocab_size=vocab_size, max_position_embeddings=positions, **special, **dims
    )
    # The Hub's base configs do not declare our label count; that is one of the traps.
    hub_config = config.to_dict()
    for key in ("num_labels", "id2label", "label2id"):
        hub_config.pop(key, None)
    hub_config.pop("transformers_version", None)
    (files / "config.json").write_text(json.dumps(hub_config, indent=2))

    config.num_labels = outputs
    torch.manual_seed(seed)
    net = getattr(transformers, family.model_name)(config)
    if size == "tiny":
        # Spread the random logits so scores vary across inputs and labels (tests compare
        # runtimes on them; near-constant 0.5s would hide disagreements).
        head = net.classifier
        final = head.out_proj if hasattr(head, "out_proj") else head  # RoBERTa: dense, out_proj
        with torch.no_grad():
            final.weight.normal_(0.0, 0.5)
    state = {key_prefix + k: v.clone() for k, v in net.state_dict().items()}
    payload = {
        "config": {
            "arch": {
                "args": {
                    "model_type": repo,
                    "model_name": family.model_name,
                    "tokenizer_name": family.tokenizer_name,
                    "num_classes": outputs,
                }
            },
            "dataset": {"args": {"classes": list(classes)}},
        },
        "state_dict": state,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    checkpoint = out / f"synthetic_{model}-{sha[:8]}.ckpt"
    checkpoint.write_bytes(data)
    return Synthetic(model, checkpoint, out / "hub", repo, sha)


def _special_ids(family: str) -> dict[str, int]:
    if family in {"roberta", "xlm-roberta"}:
        return {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}
    return {"pad_token_id": 0}


def _write_tokenizer(family: str, files: Path, vocab: Path | None) -> int:
    """Write the family's tokenizer files (as the Hub has them); return the vocabulary size."""
    if family == "bert":
        if vocab is not None:
            shutil.copyfile(vocab, files / "vocab.txt")
            return sum(1 for _ in vocab.open(encoding="utf-8"))
        words = sorted({w for line in _CORPUS for w in line.replace(",", " ").split()})
        pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        pieces += [chr(c) for c in range(33, 127)]
        pieces += ["##" + chr(c) for c in range(97, 123)]
        pieces += words
        (files / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
        (files / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
        return len(pieces)
    if family == "roberta":
        from tokenizers import ByteLevelBPETokenizer

        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(
            list(_CORPUS) * 4,
            vocab_size=400,
            min_frequency=1,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            show_progress=False,
        )
        bpe.save_model(str(files))
        return int(bpe.get_vocab_size())
    import sentencepiece as spm

    model = io.BytesIO()
    albert = family == "albert"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(_CORPUS) * 4),
        model_writer=model,
        vocab_size=200,
        hard_vocab_limit=False,
        model_type="unigram" if albert else "bpe",
        character_coverage=1.0,
        # ALBERT: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3; XLM-R (fairseq order): <s> <pad> </s> <unk>.
        pad_id=0 if albert else 1,
        unk_id=1 if albert else 3,
        bos_id=-1 if albert else 0,
        eos_id=-1 if albert else 2,
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"] if albert else ["<mask>"],
        minloglevel=2,
    )
    name = "spiece.model" if albert else "sentencepiece.bpe.model"
    (files / name).write_bytes(model.getvalue())
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    # XLM-R's tokenizer adds <mask> after the pieces (fairseq offset); leave room for it.
    return int(processor.get_piece_size()) + (0 if albert else 2)
