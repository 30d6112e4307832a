"""``moderation models list|pull|synth``: Detoxify weights, pulled once, then used offline."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from moderation.scoring import catalog
from moderation.scoring.weights import ModelFiles
from moderation.settings import TOXICITY_MODELS, Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="Detoxify weights: pull them once, then run offline")
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="the known models and which are pulled")
    m.add_argument("--dir", type=Path, help="model folder (default MODERATION_MODEL_DIR)")
    m = msub.add_parser("pull", help="download a model's checkpoint, config and tokenizer")
    m.add_argument("model", choices=list(TOXICITY_MODELS))
    m.add_argument("--dir", type=Path, help="model folder (default MODERATION_MODEL_DIR)")
    m.add_argument("--checkpoint-url", help="fetch the checkpoint from here (a mirror)")
    m.add_argument("--sha256", help="refuse a checkpoint whose SHA-256 does not start with this")
    m.add_argument(
        "--hub-url", help="Hugging Face Hub or mirror (default MODERATION_MODEL_HUB_URL)"
    )
    m.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (done at start)")
    m = msub.add_parser(
        "synth", help="install RANDOM weights of a model's shape (tests and benchmarks only)"
    )
    m.add_argument("model", choices=list(TOXICITY_MODELS))
    m.add_argument("--dir", type=Path, help="model folder (default MODERATION_MODEL_DIR)")
    m.add_argument("--size", choices=["tiny", "base"], default="tiny")
    m.add_argument("--vocab", type=Path, help="a WordPiece vocab.txt for BERT (realistic tokens)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    p.set_defaults(handler=cmd_models)


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    model_dir: Path = args.dir or settings.model_dir
    if args.models_command == "list":
        for name, spec in catalog.MODELS.items():
            files = ModelFiles.at(model_dir, name)
            state = "pulled" if files.present() else "absent"
            sha = str(files.manifest().get("sha256", ""))[:12]
            print(f"{name:<15} {state:<7} {sha:<13} {spec.description}")
        print(f"(in {model_dir}; MODERATION_TOXICITY_MODEL={settings.toxicity_model})")
        return 0
    # Imported here: the download and export libraries load only when weights are installed.
    from moderation.scoring.pull import pull

    if args.models_command == "pull":
        pull(
            args.model,
            model_dir,
            checkpoint_url=args.checkpoint_url,
            hub_url=args.hub_url or settings.model_hub_url,
            export_onnx=not args.no_onnx,
            int8_tolerance=settings.onnx_int8_tolerance,
            expected_sha256=args.sha256,
        )
        return 0
    # synth: a random-weight stand-in, installed through the same code as a real pull.
    from moderation.scoring import synthetic

    with tempfile.TemporaryDirectory(prefix="moderation-synth-") as tmp:
        made = synthetic.build(
            args.model, Path(tmp), size=args.size, vocab=args.vocab, seed=args.seed
        )
        pull(
            args.model,
            model_dir,
            checkpoint_url=made.checkpoint.as_uri(),
            hub_url=made.hub.as_uri(),
            export_onnx=not args.no_onnx,
            int8_tolerance=settings.onnx_int8_tolerance,
        )
    print(
        f"WARNING: {model_dir / args.model} holds RANDOM weights: its scores mean nothing. "
        "For tests and benchmarks only.",
        file=sys.stderr,
    )
    return 0
