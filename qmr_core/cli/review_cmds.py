"""`qmr review sample|list` (sets of failures to label blind) and `qmr judge-accuracy`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from qmr_core.review.annotations import default_author
from qmr_core.cli.common import DEFAULT_DB, DbOption, app, cli_errors, console, err_console, open_store, resolve_run
from qmr_core.errors import QmrError

review_app = typer.Typer(help="Blind review: draw a set of failures to label before seeing any verdict.", no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("sample")
@cli_errors
def review_sample_command(
    n: Annotated[int, typer.Option("--n", help="How many failing samples to draw.")],
    by: Annotated[str, typer.Option("--by", help="Strata: error_type (the judge's type; unlocated verdicts are a stratum) | run | subject | level | none.")] = "error_type",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw and of the review order.")] = 0,
    run: Annotated[list[str] | None, typer.Option("--run", "-r", help="Only this quantized run (id or prefix; repeatable). Default: every quantized run with a base run.")] = None,
    judge: Annotated[str, typer.Option("--judge", "-j", help="The judge whose diagnoses define the population and the error-type strata.")] = "combined",
    name: Annotated[str | None, typer.Option("--name", help="Name of the review set (default: BY-nN-sSEED).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Draw a stratified sample of failing samples to review blind, and store it as a named review set.

    The population is the wrong greedy samples of quantized runs that --judge diagnosed. Allocation
    is proportional to stratum size (largest remainder), so the set is self-weighting: its plain
    accuracy estimates the judge's accuracy on all those failures. The review order is shuffled with
    the same seed. Review it blind with `qmr tui --review NAME`, then run `qmr judge-accuracy --set NAME`.

    Example: qmr review sample --n 40 --by error_type --seed 0 --db qmr-demo.duckdb
    """
    from qmr_core.review.sample import make_set
    from qmr_core.review.store import ReviewStore

    store = open_store(db, write=False)  # only the annotations file is written
    runs = [resolve_run(store, r) for r in run] if run else None
    set_name = (name or f"{by}-n{n}-s{seed}").strip()
    if not set_name:
        raise QmrError("--name must not be empty")
    review = ReviewStore.for_store(db)
    review_set, items, notes = make_set(store, set_name, n, by, seed, judge, runs, default_author())
    old = review.get_set(set_name)
    if old is not None:
        if not old.same_draw(review_set):
            raise QmrError(f"review set '{set_name}' exists with other settings; choose another --name")
        console.print(f"review set [bold]{escape(set_name)}[/] exists (drawn {old.created_at:%Y-%m-%d %H:%M}); unchanged")
        review_set, items = old, review.items(set_name)
    else:
        review.save_set(review_set, items)
    for note in notes:
        err_console.print(f"[yellow]note[/] {escape(note)}")
    table = Table(title=f"review set {escape(set_name)}: {len(items)} of {review_set.population} failures "
                        f"({review_set.judge} diagnoses), proportional by {by}, seed {seed}",
                  header_style="bold", title_justify="left")
    for col in ("stratum", "failures", "drawn"):
        table.add_column(col, justify="left" if col == "stratum" else "right")
    for stratum, (size, drawn) in review_set.strata.items():
        table.add_row(escape(stratum), str(size), str(drawn))
    console.print(table)
    console.print(f"next: qmr tui --db {db} --review {set_name}   (label blind), then: qmr judge-accuracy --db {db} --set {set_name}")


@review_app.command("list")
@cli_errors
def review_list_command(db: DbOption = DEFAULT_DB) -> None:
    """Review sets of a store, with how many of their items carry blind labels.

    Example: qmr review list --db qmr-demo.duckdb
    """
    from qmr_core.review.store import ReviewStore

    open_store(db, write=False)
    review = ReviewStore.for_store(db)
    sets = review.list_sets()
    if not sets:
        console.print("no review sets yet: draw one with `qmr review sample --n N`")
        return
    table = Table(title="review sets", header_style="bold", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("name", "items", "labelled", "of", "by", "seed", "judge", "created"):
        table.add_column(col, justify="right" if col in ("items", "labelled", "of", "seed") else "left", no_wrap=col == "name")
    for s, n_items in sets:
        labelled = len({lab.key for lab in review.blind_labels(review_set=s.name)})
        table.add_row(escape(s.name), str(n_items), str(labelled), str(s.population), s.by_key, str(s.seed),
                      escape(s.judge), f"{s.created_at:%Y-%m-%d}" if s.created_at else "-")
    console.print(table)
    console.print("[dim]labelled: items with a blind label; of: failures the set was drawn from[/]")


@app.command("judge-accuracy")
@cli_errors
def judge_accuracy_command(
    review_set: Annotated[str | None, typer.Option("--set", "-s", help="Only the samples of this review set.")] = None,
    run: Annotated[list[str] | None, typer.Option("--run", "-r", help="Only samples of this run (id or prefix; repeatable).")] = None,
    annotator: Annotated[str | None, typer.Option("--annotator", "-a", help="Use this annotator's blind labels as the reference (default: each sample's earliest blind label).")] = None,
    judge: Annotated[str, typer.Option("--judge", "-j", help="Judge of the confusion matrix.")] = "combined",
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="Print as md | latex | csv instead of terminal tables.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Each judge's and the combined verdict's accuracy against the blind labels: first faulty step and
    error type, with Wilson 95% intervals, the confusion matrix of error types, and Cohen's kappa
    between annotators who labelled the same samples. Accept / correct verdicts are not used: they
    were made after seeing the judge's answer.

    Example: qmr judge-accuracy --db qmr-demo.duckdb --set error_type-n40-s0
    """
    from qmr_core.report.render import render_csv_text, render_latex, render_markdown
    from qmr_core.review.accuracy import accuracy_tables, load_accuracy
    from qmr_core.review.store import ReviewStore

    if fmt is not None and fmt not in ("md", "latex", "csv"):
        raise QmrError(f"unknown format '{fmt}' (one of md, latex, csv)")
    store = open_store(db, write=False)
    runs = [resolve_run(store, r) for r in run] if run else None
    if review_set is not None:
        ReviewStore.for_store(db).require_set(review_set)
    result = load_accuracy(store, review_set=review_set, runs=runs, annotator=annotator, confusion_judge=judge)
    if result.n_labels == 0:
        who = f" by {annotator}" if annotator else ""
        raise QmrError(f"no blind labels{who} yet: draw a set with `qmr review sample`, then label it in `qmr tui --review SET`")
    scope = f"set {review_set}" if review_set else ""
    tables = accuracy_tables(result, scope)
    if not tables:
        raise QmrError(f"none of the {result.n_labels} blind-labelled samples has a diagnosis (run `qmr diagnose`)")
    if fmt is not None:
        text = render_markdown(tables, "judge accuracy") if fmt == "md" else (render_latex if fmt == "latex" else render_csv_text)(tables)
        typer.echo(text, nl=False)
        return
    from qmr_core.review.render import render_blind_accuracy

    console.print(render_blind_accuracy(result, both=True, scope=scope))
