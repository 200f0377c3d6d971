"""`qmr recover build|train|eval|show`: recovery fine-tuning of a quantized model at its first faulty steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qmr_core.api.recover import recover_build, recover_eval, recover_train
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, open_store
from qmr_core.cli.progress import RichProgress
from qmr_core.errors import QmrError
from qmr_core.store.recovery import recoveries

recover_app = typer.Typer(help="Recovery fine-tuning: curate examples at the first faulty step, train a LoRA, evaluate it.",
                          no_args_is_help=True)
app.add_typer(recover_app, name="recover")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


@recover_app.command("build")
@cli_errors
def build_command(
    quant: Annotated[str, typer.Option("--quant", "-q", help="Quantized run (id or unique prefix).")],
    base: Annotated[str | None, typer.Option("--base", "-b", help="Full-precision run; inferred from the quantized model's base when omitted.")] = None,
    judge: Annotated[str, typer.Option("--judge", "-j", help="Whose diagnoses locate the faulty step: combined | symbolic | rules | hf:MODEL (falls back to combined, then to the first divergent step).")] = "combined",
    error_type: Annotated[list[str] | None, typer.Option("--error-type", "-e", help="Keep only this error type (repeatable; case-insensitive).")] = None,
    holdout: Annotated[float, typer.Option("--holdout", help="Fraction of the lost problems held out of training (seeded).")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the holdout and the control set's random cuts.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the JSONL files (default: recovery/SET_ID next to the store).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Build a recovery set from a comparison's lost problems: targeted examples cut at the diagnosed first
    faulty step, and a control set of the same problems cut at another random step the two traces share. Writes the store and 4 JSONL files.

    Example: qmr recover build --base 768079 --quant 3c0d12 --error-type execution --db qmr-demo.duckdb
    """
    rep = recover_build(open_store(db), quant, base, judge, error_type, holdout, seed, out)
    table = Table(title=f"recovery set {rep.set_id}", header_style="bold")
    for col in ("error type", "training examples", "held out"):
        table.add_column(col, justify="left" if col == "error type" else "right")
    for etype, n_train, n_held in rep.by_type():
        table.add_row(etype, str(n_train), str(n_held))
    table.add_row("[bold]total[/]", str(len(rep.targeted)), str(len(rep.holdout)))
    console.print(table)
    console.print(f"lost problems: {rep.n_lost} ({rep.base_run_id} -> {rep.quant_run_id}); "
                  f"located by: {', '.join(f'{k} {v}' for k, v in sorted(rep.located_by.items()))}")
    if rep.moved_back:
        console.print(f"[dim]{rep.moved_back} targeted cut(s) moved before the faulty step: the traces diverged earlier[/]")
    if rep.skipped:
        err_console.print("[yellow]skipped[/] " + ", ".join(f"{n} {why}" for why, n in sorted(rep.skipped.items())))
    short = len(rep.targeted) - len(rep.control)
    console.print(f"control set: {len(rep.control)} examples (same problems, cut at another random step)"
                  + (f"; {short} problem(s) have no other step to cut at (traces part in step 1 and the full-precision one has a single step)" if short else ""))
    for f in rep.files:
        console.print(f"  {escape(str(f))}")
    console.print(f"next: qmr recover train --set {rep.set_id} --db {escape(str(db))}")


@recover_app.command("train")
@cli_errors
def train_command(
    set_id: Annotated[str, typer.Option("--set", "-s", help="Recovery set id (or unique prefix).")],
    kind: Annotated[str, typer.Option("--kind", help="targeted | control examples.")] = "targeted",
    objective: Annotated[str, typer.Option("--objective", help="sft (prompt -> full-precision continuation) | dpo (chosen vs quantized continuation).")] = "sft",
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 2e-4,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank.")] = 8,
    alpha: Annotated[int, typer.Option("--alpha", help="LoRA alpha.")] = 16,
    beta: Annotated[float, typer.Option("--beta", help="DPO beta.")] = 0.1,
    epochs: Annotated[float, typer.Option("--epochs", help="Passes over the examples.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after N optimizer steps (overrides --epochs).")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Stop after this much wall time.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-k", help="Examples per step.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Training seed.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Adapter folder (default: recovery/SET_ID/KIND-OBJECTIVE-HASH next to the store).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA if present, bf16 autocast) | cpu (fp32) | cuda.")] = "auto",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Train a LoRA adapter on the frozen quantized model of the set's quantized run with trl (GPU if present, else CPU fp32).
    Saves the adapter plus qmr_recovery.json; `--model ADAPTER_DIR` then loads the recovered model anywhere.

    Example: qmr recover train --set 1a2b3c --objective sft --max-steps 10 --db qmr-demo.duckdb
    """
    from qmr_core.recover.train import TrainParams

    params = TrainParams(kind, objective, lr, rank, alpha, beta, epochs, max_steps, max_minutes, batch_size, seed)
    params.check()
    store = open_store(db)
    try:
        with console.status("training ...", spinner="dots"):
            res = recover_train(store, set_id, params, out, device=device, progress=RichProgress())
    except KeyboardInterrupt:
        raise QmrError("interrupted: training stopped and no adapter was saved (use --max-minutes to stop early and keep it)") from None
    console.print(
        f"adapter [bold]{res.adapter_id}[/]: {res.n_train} {kind} examples, {objective}, {res.steps} steps in "
        f"{res.seconds:.1f} s, final loss " + (f"{res.final_loss:.4f}" if res.final_loss is not None else "-")
        + (" (stopped by --max-minutes)" if res.stopped_by_time else "")
    )
    console.print(f"saved to {escape(str(res.adapter_dir))}")
    console.print(f"next: qmr recover eval {escape(str(res.adapter_dir))} --db {escape(str(db))}")


def _summary_table(summary: dict) -> Table:
    table = Table(title=f"recovery on {summary['n_evaluated']} evaluated problems (run {summary['eval_run_id']})",
                  header_style="bold")
    for col in ("error type", "lost", "recovered", "held out", "held out recovered"):
        table.add_column(col, justify="left" if col == "error type" else "right")
    for t in summary["by_type"]:
        table.add_row(t["error_type"], str(t["lost"]), str(t["lost_recovered"]), str(t["holdout"]), str(t["holdout_recovered"]))
    table.add_row("[bold]total[/]", str(summary["lost"]["n"]), str(summary["lost"]["recovered"]),
                  str(summary["holdout"]["n"]), str(summary["holdout"]["recovered"]))
    return table


@recover_app.command("eval")
@cli_errors
def eval_command(
    adapter: Annotated[Path, typer.Argument(help="Adapter folder from `qmr recover train`.")],
    batch_size: Annotated[int, typer.Option("--batch-size", "-k", help="Sequences decoded together.")] = 8,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:N].")] = "auto",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Evaluate a recovered model on its parent quantized run's problems (minus the training problems), prompt
    and decoding, as a run whose parent is that quantized run; then compare it with the quantized and the
    full-precision runs and report which lost problems it recovered and which it newly broke.

    Example: qmr recover eval recovery/1a2b3c/targeted-sft-9f8e7d --db qmr-demo.duckdb
    """
    with RichProgress() as progress:
        summary = recover_eval(open_store(db), adapter, batch_size, device, progress).summary
    acc = summary["acc"]
    console.print(_summary_table(summary))
    console.print(f"accuracy: full precision {_pct(acc['full_precision'])}, quantized {_pct(acc['quantized'])}, "
                  f"recovered {_pct(acc['recovered'])}")
    console.print(f"fixed (quantized wrong -> right): {summary['fixed']}; newly broken (quantized right -> wrong): "
                  f"{len(summary['newly_broken'])}" + (f" ({', '.join(summary['newly_broken'][:5])})" if summary["newly_broken"] else ""))
    for w in summary["warnings"]:
        err_console.print(f"[yellow]warning[/] {escape(w)}")


@recover_app.command("show")
@cli_errors
def show_command(db: DbOption = DEFAULT_DB) -> None:
    """List trained recovery adapters with their training and evaluation numbers.

    Example: qmr recover show --db qmr-demo.duckdb
    """
    store = open_store(db)
    rows = recoveries(store)
    if not rows:
        console.print(f"no recovery adapters in {db} yet (qmr recover build, then train)")
        return
    table = Table(header_style="bold", caption="acc: full precision / quantized / recovered, on the evaluated problems")
    for col in ("adapter", "training", "acc", "lost fixed", "held-out fixed", "broken"):
        table.add_column(col, justify="left" if col in ("adapter", "training") else "right", no_wrap=col == "adapter")
    for r in rows:
        s = json.loads(r.summary_json) if r.summary_json else None
        training = (f"{r.n_train} {r.kind} {r.objective}, {r.steps or 0} steps"
                    + (f", {r.train_seconds:.0f} s" if r.train_seconds is not None else "")
                    + (f", loss {r.final_loss:.3f}" if r.final_loss is not None else ""))
        acc = "/".join(f"{s['acc'][k]:.0%}" for k in ("full_precision", "quantized", "recovered")) if s else "not evaluated"
        table.add_row(
            r.adapter_id, training, acc,
            f"{s['lost']['recovered']}/{s['lost']['n']}" if s else "-",
            f"{s['holdout']['recovered']}/{s['holdout']['n']}" if s else "-",
            str(len(s["newly_broken"])) if s else "-",
        )
    console.print(table)
    for r in rows:
        run = f"eval run {r.eval_run_id}, " if r.eval_run_id else ""
        console.print(f"[dim]{r.adapter_id}: set {r.set_id}, {run}{escape(r.adapter_path)}[/]")
