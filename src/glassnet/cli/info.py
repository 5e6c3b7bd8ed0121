"""``glassnet info``: what a model or checkpoint file holds, without running it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import optimizers
from .._checks import is_number
from .._text import count, printable
from ..io.archive import read_archive
from ..io.checkpoint_file import check_state
from ..io.format import model_from_archive
from ..report.text import batch_size_text, class_weight_text, lr_reductions_text
from ..run_folders import RUN_RECORD
from ..run_resume import training_end
from .arguments import Subcommands, model_or_checkpoint_file
from .common import refuse_a_search_folder_as_model
from .output import fmt_metrics, print_json


def add_parser(sub: Subcommands) -> None:
    """Add the ``info`` command's parser to ``sub``."""
    p = sub.add_parser(
        "info", help="describe a .glassnet model or checkpoint",
        description="Show a model file's architecture, parameter count, classes, input size, "
                    "preprocessing and training summary (and, for a checkpoint, where training "
                    "stopped). The file is fully validated, never executed.")
    p.add_argument("model", type=model_or_checkpoint_file,
                   help="a .glassnet model or checkpoint file, or a run directory (its "
                        "model.glassnet, or its checkpoint while the run is unfinished)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(run=run)


def describe(path: str) -> dict[str, Any]:
    """A JSON-able description of the file at ``path`` (validated by loading it)."""
    refuse_a_search_folder_as_model(path)
    config, arrays = read_archive(path, "model or checkpoint file")
    model = model_from_archive(path, config, arrays)
    state = config.get("checkpoint")
    if config.get("kind") == "checkpoint":
        check_state(Path(path), state if isinstance(state, dict) else {})
    trainable, frozen = model.count_params()
    info = {
        "file": str(path), "kind": config.get("kind", "model"),
        "format_version": config["format_version"], "glassnet_version": config.get("glassnet_version"),
        "name": model.name, "input_shape": list(model.input_shape), "dtype": model.dtype.name,
        "classes": model.class_names, "output_activation": model.output_activation,
        "probabilities": model.probability_activation,
        "loss": config.get("loss"), "preprocessing": model.preprocessing,
        "params": {"trainable": trainable, "non_trainable": frozen},
        "reg": model.reg, "layers": model.get_config()["layers"], "training": model.training_summary,
        "summary": model.summary(print_fn=None),
    }
    if config.get("kind") == "checkpoint":
        info["checkpoint"] = {"epochs_done": state.get("epochs_done"),
                              "optimizer": state.get("optimizer", {}).get("config"),
                              "last_epoch": {k: v[-1] for k, v in state.get("history", {}).items()
                                             if k != "epoch" and v},
                              "run": state.get("run"), "stopped_early": bool(state.get("stopped_early")),
                              "non_finite": state.get("non_finite"), "seconds": state.get("seconds"),
                              # a run writes its record last: without it, --resume writes its files
                              "run_finished": (Path(path).parent / RUN_RECORD).is_file()}
        if state.get("seconds") is not None and "seconds" in model.training_summary:
            # its model's summary counts the last training session only; the state, them all
            info["training"] = {**model.training_summary, "seconds": state["seconds"]}
    return info


def preprocessing_text(p: dict[str, Any]) -> str:
    """A model's ``preprocessing`` (``scale``, per-channel ``mean`` and ``std``) as a formula:
    ``"x * 0.00392157 (pixels / 255) - mean [...] / std [...], per channel"``."""
    parts = [f"x * {p['scale']:.6g}" + (" (pixels / 255)" if abs(p["scale"] - 1 / 255) < 1e-12 else "")]
    for key, op in (("mean", "-"), ("std", "/")):
        if p[key] is not None:
            parts.append(f"{op} {key} [{', '.join(f'{v:.4g}' for v in p[key])}]")
    return " ".join(parts) + (", per channel" if len(parts) > 1 else "")


def _optimizer_settings(opt: dict[str, Any]) -> str:
    """``" (momentum 0.9, nesterov, weight decay 0.1)"``: the optimizer's settings other than
    its class's defaults."""
    shown = []
    for key, value in optimizers.non_default_settings(opt).items():
        label = key.replace("_", " ")
        shown.append(label if value is True else f"{label} {value:g}" if isinstance(value, (int, float))
                     else f"{label} {value}")
    return f" ({', '.join(shown)})" if shown else ""


def early_stopping_text(record: dict[str, Any]) -> str:
    """``"early stopping on val_loss, patience 5: stopped after epoch 17, weights of epoch 12"``."""
    acted = [*([f"stopped after epoch {record['stopped_after']}"] if "stopped_after" in record else []),
             *([f"weights of epoch {record['restored_epoch']}"] if "restored_epoch" in record else [])]
    return (f"early stopping on {record.get('monitor')}, patience {record.get('patience')}"
            + (f": {', '.join(acted)}" if acted else ": did not stop early"))


def training_text(summary: dict[str, Any], reg: float = 0.0) -> list[str]:
    """The training lines of ``glassnet info``: how the model was trained (``summary``, the
    file's training summary; ``reg``, its L2 strength) and its scores."""
    if not summary:
        return ["training: none recorded" + (f" (L2 reg {reg:g})" if reg else "")]
    opt = summary.get("optimizer") or {}
    # a checkpoint's model records only its data (the run's totals come at its end)
    head = ("training:" + (f" {count(summary['epochs'], 'epoch')}" if "epochs" in summary else "")
            # an image folder by its whole path, as evaluate finds it again
            + (f" on {printable(str(summary.get('folder') or summary['dataset']))}"
               if "dataset" in summary else "")
            + (f" in {summary['seconds']:.1f}s" if "seconds" in summary else "")
            + (f", optimizer {opt.get('name')}" if opt else "")
            + (f" lr {opt['lr']:g}" if opt.get("lr") is not None else "")
            + _optimizer_settings(opt)
            + (f" ({summary['lr_schedule']})" if summary.get("lr_schedule") else "")
            + (f", batch size {batch_size_text(summary['batch_size'])}" if "batch_size" in summary else "")
            + (f", L2 reg {reg:g}" if reg else "")
            # (any shape a training summary of the user's own holds: shown only as train writes it)
            + (f", augment {summary['augment']}" if isinstance(summary.get("augment"), str) else "")
            + (f", images fitted by {summary['resize']}" if "resize" in summary else "")
            + (f", test split {summary['test_split']:g} with seed {summary.get('seed', 0)}"
               if summary.get("test_split") is not None else "")
            + (f", validation split {summary['validation_split']:g}"
               if summary.get("validation_split") is not None else "")
            + _holdout_text(summary.get("holdout")))
    lines = [head]
    if isinstance(summary.get("early_stopping"), dict):
        lines.append(f"  {early_stopping_text(summary['early_stopping'])}")
    reduce_lr = summary.get("reduce_lr")
    reductions = lr_reductions_text(reduce_lr) if isinstance(reduce_lr, dict) else None
    if reductions:
        lines.append(f"  {reductions}")
    weights = class_weight_text(summary.get("class_weight"))
    if weights:
        lines.append(f"  class weights: {weights}")
    by_split = summary.get("metrics") or ({"final": summary["final"]} if summary.get("final") else {})
    for split, metrics in by_split.items():
        lines.append(f"  {split}: {fmt_metrics(metrics)}")
    return lines


def run(args: argparse.Namespace) -> int:
    """``glassnet info``: print what the model or checkpoint file holds (``--json``: as
    :func:`describe` gives it); returns the exit code."""
    info = describe(args.model)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['file']}: glassnet {info['kind']} (format {info['format_version']}, "
          f"written by glassnet {info['glassnet_version']})")
    print(info["summary"])
    classes = info["classes"]
    print(f"input: (N, {', '.join(map(str, info['input_shape']))}) {info['dtype']}; "
          f"preprocessing: {preprocessing_text(info['preprocessing'])}")
    print(f"classes ({len(classes)}): {', '.join(map(printable, classes))}" if classes
          else "classes: not recorded")
    print(f"output: {info['probabilities'] or 'raw scores'}; loss: {(info['loss'] or {}).get('name')}")
    for line in training_text(info["training"], info["reg"]):
        print(line)
    if "checkpoint" in info:
        print(_checkpoint_text(info["checkpoint"]))
    return 0


def _checkpoint_text(ck: dict[str, Any]) -> str:
    """The checkpoint's line: the epochs done of those its run planned, whose weights it
    holds (the last epoch's: early stopping's best are put back only when the run ends; the
    last finite ones after a non-finite loss), whether ``glassnet train --resume`` goes on
    from it (and with which optimizer and batch size) or refuses, and the last epoch's
    scores."""
    run = ck.get("run") if isinstance(ck.get("run"), dict) else {}
    planned = run.get("epochs")
    planned = planned if isinstance(planned, int) and not isinstance(planned, bool) else None
    done = ck["epochs_done"]
    weights = "the initial weights" if done == 0 else "the weights of the last"
    ended = training_end(ck, done, planned)  # as resume decides
    over = {"non_finite": f"its training stopped because {ck.get('non_finite')}",
            "stopped_early": "early stopping ended its training",
            "complete": "its training is complete", None: None}[ended]
    if over is None:
        state = f"{weights} (glassnet train --resume continues it{_goes_on_with(ck, run)})"
    elif ck.get("run_finished") is False:  # (as resume decides: the run's record is written last)
        state = f"{weights}; {over}, and glassnet train --resume writes the run's files"
    elif ended == "non_finite":  # the same settings would diverge again
        state = f"{weights}; {over}, so --resume refuses it: start a new run"
    else:
        state = f"{weights}; {over}: nothing to resume"
    last = f"; last epoch: {fmt_metrics(ck['last_epoch'])}" if ck.get("last_epoch") else ""
    of = f" of {planned}" if planned is not None else ""
    return f"checkpoint: {done}{of} epoch(s) done, with {state}{last}"


def _goes_on_with(ck: dict[str, Any], run: dict[str, Any]) -> str:
    """`` with optimizer sgd lr 0.01, batch size 64``: what a resumed run trains with, as far
    as the checkpoint records it (its model's training line lacks both: it records only
    the data until the run ends)."""
    opt = ck.get("optimizer") if isinstance(ck.get("optimizer"), dict) else {}
    lr = f" lr {opt['lr']:g}" if is_number(opt.get("lr")) else ""
    schedule = run.get("lr_schedule") or ("step" if run.get("lr_decay") else None)
    if schedule not in (None, "constant") and is_number(run.get("lr")):
        # a resumed run goes on with its schedule of the run's lr, not the lr of this moment
        lr = f" lr {run['lr']:g} on the {schedule} schedule" + (f" (now {opt['lr']:g})" if lr else "")
    parts = [f"optimizer {opt['name']}{lr}{_optimizer_settings(opt)}"] if opt.get("name") else []
    parts += [f"batch size {batch_size_text(run['batch_size'])}"] if "batch_size" in run else []
    return f" with {', '.join(parts)}" if parts else ""


def _holdout_text(holdout: dict | None) -> str:
    """How a search trial's validation images were held out of its training split."""
    if not holdout:
        return ""
    if "folds" in holdout:
        return f", a search trial validated on fold {holdout['fold']} of {holdout['folds']}"
    return f", a search trial with validation split {holdout['validation_split']:g}"
