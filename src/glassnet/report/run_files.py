"""Reading a run folder (``runs/<name>/``) back for its report: ``run.json``,
``history.json`` and ``metrics.json``, checked (a damaged or hand-edited file is one clear
error), and for a folder that holds no run, what to give instead (a search's folder, a
trial's, a run still being trained).

:mod:`glassnet.report.run_report` builds the run's report from what :func:`read_run` returns.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from .._files import nan_for_null
from ..errors import ConfigError, GlassnetError
from ..io.checkpoint_file import CHECKPOINT_NAME, read_checkpoint, sessions_of, sessions_problem
from ..json_checks import NUMBER, is_number_or_none, type_problem
from ..run_folders import MODEL_FILE, RUN_RECORD, search_files_in, search_folder_note
from .sessions import setting_of

RUN_FILES = (RUN_RECORD, "history.json", "metrics.json")


def _search_of_trial(folder: Path) -> Path | None:
    """The search folder ``S`` when ``folder`` is one of its trials' runs, ``S/trials/NNNN``
    or ``S/trials/NNNN/fold-K``; else ``None``."""
    trial = folder.resolve()
    if trial.name.startswith("fold-"):
        trial = trial.parent
    search = trial.parent.parent
    if trial.parent.name == "trials" and trial.name.isdigit() and search_files_in(search):
        return search
    return None


def _last_setting(folder: Path) -> str:
    """`` --threads N`` (or `` --device gpu``) of the last session that trained the run in
    ``folder``, always (training's own stop message repeats only the flags it was given):
    resumed on other threads or another device, the rest of the run rounds differently.
    Nothing when the checkpoint does not say (damaged, or written before sessions were
    recorded)."""
    try:
        device, threads = setting_of(sessions_of(read_checkpoint(folder / CHECKPOINT_NAME).state)[-1])
    except (OSError, GlassnetError, ValueError, KeyError, IndexError):  # unreadable: no flags
        return ""
    if device == "cpu" and isinstance(threads, int):
        return f" --threads {threads}"
    return " --device gpu" if device == "gpu" else ""


def _what_else(folder: Path) -> str:
    """What to give instead of ``folder``, which holds no run: a search's folder and a trial
    trained on folds hold runs one level down."""
    if (folder / CHECKPOINT_NAME).is_file() and (folder / MODEL_FILE).is_file():
        # a finished run keeps its checkpoint: its run.json alone is gone
        return (f"its {RUN_RECORD} is missing; resuming writes the run's files again: "
                f"glassnet train --resume {shlex.quote(str(folder))}")
    if (folder / CHECKPOINT_NAME).is_file():
        search = _search_of_trial(folder)
        if search is not None:
            # 'train --resume' would finish the trial outside the study, which never learns of it
            return (f"it is a search trial whose training was interrupted; the search trains its "
                    f"settings again when it is continued: glassnet search --resume --out "
                    f"{shlex.quote(str(search))} (with the search's --storage if it is not the "
                    f"journal file in that folder)")
        return (f"its training was interrupted and the report is written when it finishes: "
                f"glassnet train --resume {shlex.quote(str(folder))}{_last_setting(folder)}")
    note = search_folder_note(folder)
    if note is not None:
        return note
    folds = sorted(p.name for p in folder.glob("fold-*") if (p / RUN_RECORD).is_file())
    if folds:
        return f"it holds a trial's run on each fold: give one of {', '.join(folds)}"
    return "give the folder that 'glassnet train --out' wrote"


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """``{"run", "history", "metrics"}`` from a run directory's JSON files."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ConfigError(f"{str(run_dir)!r} does not exist; give the folder that "
                          "'glassnet train --out' wrote")
    if run_dir.is_file():  # runs/x/model.glassnet, say: its folder is the run (if it is one)
        example = (f", e.g. {str(run_dir.parent)!r}" if (run_dir.parent / RUN_RECORD).is_file() else "")
        raise ConfigError(f"{str(run_dir)!r} is a file; give the run directory that 'glassnet "
                          f"train --out' wrote (it holds {RUN_RECORD}){example}")
    if not (run_dir / RUN_RECORD).is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run directory: it has no run.json "
                          f"({_what_else(run_dir)})")
    files = {}
    for name in RUN_FILES:
        try:
            files[name.removesuffix(".json")] = json.loads((run_dir / name).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{run_dir / name} is missing; the run is incomplete") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{run_dir / name} is not valid JSON ({exc})") from None
    for name, content in files.items():
        if not isinstance(content, dict):
            raise ConfigError(f"{run_dir / (name + '.json')} must hold a JSON object, "
                              f"not {type(content).__name__}; the run files are damaged")
    if not isinstance(files["run"].get("config"), dict):
        raise ConfigError(f"{run_dir / 'run.json'} has no 'config' object; the run files are damaged")
    # absent from a run.json written before they were recorded (nothing to say of a resume then)
    problem = sessions_problem(files["run"]["sessions"]) if "sessions" in files["run"] else None
    if problem:
        raise ConfigError(f"{run_dir / 'run.json'}: its training sessions are damaged ({problem})")
    problem = _numbers_problem(files["history"], files["metrics"])
    if problem:
        raise ConfigError(f"{run_dir / problem[0]}: {problem[1]}; the run files are damaged")
    # Non-finite numbers are stored as null (strict JSON); the curves and tables want NaN.
    files["history"] = {key: nan_for_null(values) for key, values in files["history"].items()}
    files["metrics"] = {key: nan_for_null(value) for key, value in files["metrics"].items()}
    return files


def _numbers_problem(history: dict[str, Any], metrics: dict[str, Any]) -> tuple[str, str] | None:
    """``(file name, what is wrong)`` for a history that is not lists of numbers, or a split's
    metrics that are not numbers (the curves and tables would fail on them), else ``None``."""
    for key, values in history.items():
        if not isinstance(values, list) or not all(map(is_number_or_none, values)):
            return "history.json", f"{key!r} must be a list of numbers"
    for split, values in metrics.items():
        if isinstance(values, dict) and not all(map(is_number_or_none, values.values())):
            return "metrics.json", f"the metrics of {split!r} must be numbers"
    problem = type_problem(metrics, {"seconds": (NUMBER, None)})
    return ("metrics.json", problem) if problem else None
