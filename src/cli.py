"""The ``customs-risk`` command line, thin: parse, build the job's options, run the job
(``customs_risk.jobs``), exit with its code. Imports stay inside the commands so --help is fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="customs-risk",
    help="Customs risk management: generate, validate, featurise, train, decide and serve.",
    no_args_is_help=True,
    add_completion=False,
)
import_app = typer.Typer(
    help="Bring a real data set into the canonical contracts.", no_args_is_help=True
)
app.add_typer(import_app, name="import")
benchmark_app = typer.Typer(help="Benchmarks on public data sets.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")
outcomes_app = typer.Typer(help="The outcome and decision store.", no_args_is_help=True)
app.add_typer(outcomes_app, name="outcomes")
thresholds_app = typer.Typer(help="The served model's channel thresholds.", no_args_is_help=True)
app.add_typer(thresholds_app, name="thresholds")
keys_app = typer.Typer(help="API keys of the scoring service.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
store_app = typer.Typer(help="The risk data store: the legal record.", no_args_is_help=True)
app.add_typer(store_app, name="store")
users_app = typer.Typer(help="Users of the risk management platform.", no_args_is_help=True)
app.add_typer(users_app, name="users")
report_app = typer.Typer(
    help="The analysts' reports: the whole report (--data, --out) or one part (a command)."
)
app.add_typer(report_app, name="report")
profiles_app = typer.Typer(help="Analysts' risk profiles.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")
lists_app = typer.Typer(
    help="Managed lists in the store: prohibited and restricted goods, licence requirements, "
    "trader watchlists.",
    no_args_is_help=True,
)
app.add_typer(lists_app, name="lists")
state_app = typer.Typer(help="The served feature state (live history).", no_args_is_help=True)
app.add_typer(state_app, name="state")
StoreUrl = Annotated[
    str | None, typer.Option(help="Store URL (default: CUSTOMS_RISK_STORE_URL or SQLite).")
]


@app.command()
def generate(
    declarations: Annotated[int, typer.Option(help="Declaration items (rows).")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 7,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("data/raw/world"),
    params: Annotated[Path | None, typer.Option(help="params.yaml with a world: section.")] = None,
) -> None:
    """Generate a synthetic customs world: declarations, outcomes and truth parquet files."""
    from customs_risk.jobs.generate import GenerateOptions, run

    raise typer.Exit(run(GenerateOptions(declarations, seed, out, params)))


@app.command()
def validate(
    data_dir: Annotated[
        Path, typer.Argument(help="Dataset folder: declarations.parquet [+ outcomes.parquet].")
    ],
) -> None:
    """Check a dataset folder against the contracts; quarantine rejected rows (exit 1 if any)."""
    from customs_risk.jobs.validate import ValidateOptions, run

    raise typer.Exit(run(ValidateOptions(data_dir)))


@import_app.command("kcs")
def import_kcs(
    files: Annotated[list[Path], typer.Argument(help="KCS CSV files (English columns).")],
    out: Annotated[Path, typer.Option(help="Output dataset folder.")] = Path("data/raw/kcs"),
    result_lag_days: Annotated[int, typer.Option(help="Days from declaration to result.")] = 0,
) -> None:
    """Import the public KCS customs data set into declarations/outcomes parquet files."""
    from customs_risk.jobs.import_kcs import ImportKcsOptions, run

    raise typer.Exit(run(ImportKcsOptions(tuple(files), out, result_lag_days)))


@benchmark_app.command("kcs")
def benchmark_kcs(
    train: Annotated[list[Path], typer.Option(help="Labelled KCS training CSV (repeatable).")],
    test: Annotated[list[Path], typer.Option(help="KCS test CSV, scored after predicting.")],
    out: Annotated[Path, typer.Option(help="Metrics JSON.")] = Path("metrics.json"),
    trials: Annotated[int, typer.Option(help="Optuna trials beyond the base settings.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train on KCS files, score later KCS files, write and print ranking metrics."""
    from customs_risk.jobs.benchmark_kcs import BenchmarkKcsOptions, run

    raise typer.Exit(run(BenchmarkKcsOptions(tuple(train), tuple(test), out, trials, seed)))


@app.command()
def decide(
    data_dir: Annotated[Path, typer.Argument(help="Folder with declarations.parquet.")],
    out: Annotated[Path, typer.Option(help="Decisions parquet.")] = Path("decisions.parquet"),
    profiles: Annotated[Path | None, typer.Option(help="Profile YAML or folder.")] = None,
    policy: Annotated[Path | None, typer.Option(help="Channel policy YAML.")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model: models:/NAME@ALIAS, models:/NAME/VERSION (MLflow registry) or a "
            "bundle folder."
        ),
    ] = None,
    thresholds: Annotated[
        Path | None, typer.Option(help="Thresholds JSON replacing the model's.")
    ] = None,
    fail_safe: Annotated[
        bool,
        typer.Option(
            "--fail-safe", help="No model: profiles, random control, the default channel."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random control draw.")] = 0,
    as_of: Annotated[str | None, typer.Option(help="Decision date for profiles.")] = None,
    lists: Annotated[
        Path | None, typer.Option(help="Managed-list YAML or folder (a least channel).")
    ] = None,
) -> None:
    """Decide red / orange / green for every declaration item (profiles, random, model, lists)."""
    from customs_risk.jobs.decide import DecideOptions, run

    options = DecideOptions(
        data_dir, out, profiles, policy, model, thresholds, fail_safe, seed, as_of, lists
    )
    raise typer.Exit(run(options))


@app.command()
def features(
    data_dir: Annotated[Path, typer.Argument(help="Folder with declarations/outcomes parquet.")],
    out: Annotated[Path, typer.Option(help="Parquet file for the training matrix.")] = Path(
        "data/processed/features.parquet"
    ),
    state: Annotated[Path | None, typer.Option(help="Also save the feature state here.")] = None,
) -> None:
    """Write the point-in-time training feature matrix (keys + features) of a dataset folder."""
    from customs_risk.jobs.features import FeaturesOptions, run

    raise typer.Exit(run(FeaturesOptions(data_dir, out, state)))


@app.command()
def trader(
    importer_id: Annotated[str, typer.Argument(help="Importer to enquire about.")],
    data: Annotated[Path, typer.Option(help="Dataset folder.")] = Path("data/raw/world"),
    as_of: Annotated[str | None, typer.Option(help="Enquiry date (default: after data).")] = None,
) -> None:
    """Trader enquiry: volume, inspections, findings, revenue, compliance grade and why."""
    from customs_risk.jobs.trader import TraderOptions, run

    raise typer.Exit(run(TraderOptions(importer_id, data, as_of)))


@outcomes_app.command("export")
def outcomes_export(
    out: Annotated[Path, typer.Option(help="Folder for outcomes.parquet, decisions.parquet.")],
    store_url: Annotated[
        str | None, typer.Option(help="Store URL (default: CUSTOMS_RISK_STORE_URL or SQLite).")
    ] = None,
) -> None:
    """The same as ``store export`` (its earlier name)."""
    from customs_risk.jobs.outcomes_export import OutcomesExportOptions, run

    raise typer.Exit(run(OutcomesExportOptions(out, store_url)))


@app.command()
def train(
    params: Annotated[Path | None, typer.Option(help="params.yaml with a train: section.")] = Path(
        "params.yaml"
    ),
    data: Annotated[Path | None, typer.Option(help="Dataset folder (overrides params).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (overrides params).")] = None,
    experiment: Annotated[
        list[Path] | None, typer.Option(help="Experiment YAML (repeatable; overrides params).")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Trials per study (overrides).")] = None,
    seconds: Annotated[float | None, typer.Option(help="Seconds per study (overrides).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides).")] = None,
    register: Annotated[bool, typer.Option(help="Register the model as challenger.")] = True,
) -> None:
    """Tune and train the models, log them to MLflow, register the bundle as challenger."""
    from customs_risk.jobs.train import TrainOptions, run

    experiments = tuple(experiment) if experiment else None
    raise typer.Exit(
        run(TrainOptions(params, data, out, experiments, trials, seconds, seed, register))
    )


@app.command()
def evaluate(
    train_dir: Annotated[Path, typer.Option(help="Training output folder.")] = Path("data/models"),
    data: Annotated[Path, typer.Option(help="Dataset folder (truth.parquet if generated).")] = Path(
        "data/raw/world"
    ),
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports"),
    seed: Annotated[int, typer.Option(help="Seed of the random baseline.")] = 0,
) -> None:
    """Evaluate the test window: model vs random, price rule and oracle; metrics and plots."""
    from customs_risk.jobs.evaluate import EvaluateOptions, run

    raise typer.Exit(run(EvaluateOptions(train_dir, data, out, seed)))


@app.command()
def promote(
    data: Annotated[Path, typer.Option(help="Dataset folder with the newest window.")] = Path(
        "data/raw/world"
    ),
    window_days: Annotated[int, typer.Option(help="Newest days compared on.")] = 45,
    estimator: Annotated[
        str,
        typer.Option(
            help="control: inverse-propensity estimates on the control sample; inspected: "
            "metrics on the inspected items (biased toward the model that selected them)."
        ),
    ] = "control",
    metric: Annotated[
        str | None,
        typer.Option(
            help="Deciding metric (control: precision, revenue_share; inspected: auc...)."
        ),
    ] = None,
    min_delta: Annotated[float, typer.Option(help="Required improvement.")] = 0.0,
    rule: Annotated[
        str, typer.Option(help="estimate, or interval: the difference's lower bound must exceed.")
    ] = "estimate",
    rate: Annotated[float, typer.Option(help="Inspection rate of the top sets (control).")] = 0.05,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples (control).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml whose world: made the data (truth figures).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote even if not better.")] = False,
    to: Annotated[str | None, typer.Option(help="Point champion at this version.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the comparison JSON here.")] = None,
) -> None:
    """Compare challenger and champion on the newest window; move champion (or roll back)."""
    from customs_risk.jobs.promote import PromoteOptions, run

    options = PromoteOptions(
        data=data,
        window_days=window_days,
        metric=metric,
        min_delta=min_delta,
        force=force,
        to=to,
        out=out,
        estimator=estimator,
        rule=rule,
        rate=rate,
        resamples=resamples,
        seed=seed,
        params=params,
    )
    raise typer.Exit(run(options))


@app.command()
def cycle(
    work: Annotated[
        Path, typer.Option(help="Folder for the export, training and decision.")
    ] = Path("data/cycle"),
    store_url: StoreUrl = None,
    params: Annotated[Path | None, typer.Option(help="params.yaml (train: section).")] = Path(
        "params.yaml"
    ),
    trials: Annotated[int | None, typer.Option(help="Optuna trials (default: params).")] = None,
    seconds: Annotated[
        float | None, typer.Option(help="Tuning time limit (default: params).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: params).")] = None,
    window_days: Annotated[
        int | None, typer.Option(help="Newest days promote compares on (default: params).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote even if not better.")] = False,
    import_champion: Annotated[
        bool, typer.Option(help="Import a new champion into the BentoML store.")
    ] = True,
) -> None:
    """One turn of the cycle from the store: export, validate, train, promote, import. A running
    service switches to a new champion by itself."""
    from customs_risk.jobs.cycle import CycleOptions, run

    options = CycleOptions(
        work, store_url, params, trials, seconds, seed, window_days, force, import_champion
    )
    raise typer.Exit(run(options))


@app.command("import-model")
def import_model(
    alias: Annotated[str, typer.Option(help="Registry alias to import.")] = "champion",
    version: Annotated[str | None, typer.Option(help="Registry version (overrides alias).")] = None,
) -> None:
    """Copy a registered MLflow model version into the BentoML model store (BENTOML_HOME)."""
    from customs_risk.jobs.import_model import ImportModelOptions, run

    raise typer.Exit(run(ImportModelOptions(alias, version)))


@store_app.command("show")
def store_show(
    declaration_id: Annotated[str, typer.Argument(help="The declaration number.")],
    store_url: StoreUrl = None,
) -> None:
    """What was decided on a declaration and why: decisions, the items as received, outcomes."""
    from customs_risk.jobs.store_show import StoreShowOptions, run

    raise typer.Exit(run(StoreShowOptions(declaration_id, store_url)))


@store_app.command("export")
def store_export(
    out: Annotated[Path, typer.Option(help="Dataset folder to write (validate accepts it).")],
    store_url: StoreUrl = None,
) -> None:
    """Declarations, outcomes (other sources apart) and decisions to parquet; print counts."""
    from customs_risk.jobs.outcomes_export import OutcomesExportOptions, run

    raise typer.Exit(run(OutcomesExportOptions(out, store_url)))


@report_app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    data: Annotated[
        Path | None, typer.Option(help="Dataset folder (a store export, a world, KCS).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for index.html and the tables.")] = Path(
        "reports/site"
    ),
    date_from: Annotated[
        str | None, typer.Option("--from", help="First declaration day (YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last declaration day (YYYY-MM-DD).")
    ] = None,
    level: Annotated[
        str, typer.Option(help="Finest level shown: headquarters, district or office.")
    ] = "office",
    train_dir: Annotated[
        Path | None, typer.Option(help="Training job folder: scores and reference for drift.")
    ] = None,
    profiles: Annotated[
        list[Path] | None, typer.Option(help="Profile file or folder to monitor (repeat).")
    ] = None,
    min_sample: Annotated[int, typer.Option(help="Control items a cell needs to be judged.")] = 30,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 400,
    seed: Annotated[int, typer.Option(help="Seed of the bootstraps.")] = 0,
) -> None:
    """The analysts' report of a dataset folder: OUT/index.html (a page per section,
    interactive plots) and its tables as parquet."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    from customs_risk.jobs.report import ReportOptions, run

    options = ReportOptions(
        data=data,
        out=out,
        date_from=date_from,
        date_to=date_to,
        level=level,
        train_dir=train_dir,
        profiles=tuple(profiles or ()),
        min_sample=min_sample,
        resamples=resamples,
        seed=seed,
    )
    raise typer.Exit(run(options))


@report_app.command("compliance")
def report_compliance(
    data: Annotated[Path, typer.Option(help="Dataset folder (a store export or a world).")],
    out: Annotated[Path, typer.Option(help="Table to write (parquet; a .png beside it).")] = Path(
        "reports/compliance.parquet"
    ),
    min_sample: Annotated[int, typer.Option(help="Control items a cell needs to be judged.")] = 30,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml whose world: made the data (truth figures).")
    ] = None,
) -> None:
    """Offence rate and duty at risk in the green channel per month, office, HS chapter and
    origin, estimated from the random control with 95 % intervals."""
    from customs_risk.jobs.report_compliance import ReportComplianceOptions, run

    raise typer.Exit(run(ReportComplianceOptions(data, out, min_sample, resamples, seed, params)))


@report_app.command("traders")
def report_traders(
    data: Annotated[Path, typer.Option(help="Dataset folder (a store export or a world).")],
    as_of: Annotated[str, typer.Option(help="Date of the register.")],
    to: Annotated[str, typer.Option(help="Later date of the grade migration.")],
    horizon_days: Annotated[
        int, typer.Option(help="Days after --as-of whose items measure each grade.")
    ] = 90,
    out: Annotated[Path, typer.Option(help="Folder for the tables.")] = Path("reports/traders"),
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """The trader register: every importer's grade at a date, the migration matrix to a later
    date, each grade's later offence rate (random control, 95 % intervals)."""
    from customs_risk.jobs.report_traders import ReportTradersOptions, run

    raise typer.Exit(run(ReportTradersOptions(data, as_of, to, horizon_days, out, seed)))


@report_app.command("tariff")
def report_tariff(
    data: Annotated[Path, typer.Option(help="Dataset folder (declarations + outcomes).")],
    out: Annotated[Path, typer.Option(help="Folder for the tables.")] = Path("reports/tariff"),
    top: Annotated[int, typer.Option(help="Suspects shown, with their evidence rows.")] = 50,
    min_items: Annotated[int, typer.Option(help="Priced items an importer needs.")] = 5,
    min_months: Annotated[int, typer.Option(help="Months an importer needs.")] = 2,
    record: Annotated[
        bool, typer.Option(help="Let the inspection record inform the suspect score.")
    ] = True,
) -> None:
    """Duty declared and recovered by chapter, origin, office and month; price tendency per
    HS6 x origin; reference prices; ranked suspected price-fraud enterprises with evidence."""
    from customs_risk.jobs.report_tariff import ReportTariffOptions, run

    options = ReportTariffOptions(data, out, top, min_items, min_months, record=record)
    raise typer.Exit(run(options))


@report_app.command("enforcement")
def report_enforcement(
    data: Annotated[Path, typer.Option(help="Dataset folder (a store export or a world).")],
    out: Annotated[Path, typer.Option(help="Folder for the tables and the funnel plot.")] = Path(
        "reports/enforcement"
    ),
    level: Annotated[
        str, typer.Option(help="office, district or headquarters (offices.parquet always).")
    ] = "office",
    confidence: Annotated[float, typer.Option(help="Of the funnel's control limits.")] = 0.998,
    method: Annotated[
        str, typer.Option(help="Overdispersion: multiplicative or additive (random effects).")
    ] = "multiplicative",
) -> None:
    """Law-enforcement evaluation: inspections, hit rates, lift over the random control,
    overrides and release of high-risk items per unit; abnormal units flagged by a funnel test."""
    from customs_risk.jobs.report_enforcement import ReportEnforcementOptions, run

    raise typer.Exit(run(ReportEnforcementOptions(data, out, level, confidence, method)))


@profiles_app.command("import")
def profiles_import(
    path: Annotated[str, typer.Argument(help="Profile YAML file or folder.")],
    actor: Annotated[str, typer.Option(help="Who imports (the drafts' author).")],
) -> None:
    """Put profiles into the store as new draft versions (the platform's life cycle: test,
    submit, approve); GET /profiles.yaml on the platform exports the active ones."""
    from customs_risk.jobs.platform import ProfilesImportOptions, import_profiles

    raise typer.Exit(import_profiles(ProfilesImportOptions(path, actor)))


@profiles_app.command("test")
def profiles_test(
    profiles: Annotated[Path, typer.Argument(help="Draft profile YAML file or folder.")],
    data: Annotated[Path, typer.Option(help="Dataset folder (declarations + outcomes).")],
    window_days: Annotated[int, typer.Option(help="Last days tested on.")] = 90,
    out: Annotated[Path | None, typer.Option(help="Write the table as parquet.")] = None,
) -> None:
    """Hits, workload per office-day and historical hit rate of draft profiles (validity dates
    ignored: a draft is tested before it applies)."""
    from customs_risk.jobs.profiles_test import ProfilesTestOptions, run

    raise typer.Exit(run(ProfilesTestOptions(profiles, data, window_days, out)))


@state_app.command("rebuild")
def state_rebuild(
    model: Annotated[
        str,
        typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION or a bundle folder."),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the state to.")],
    store_url: StoreUrl = None,
) -> None:
    """The model's feature state plus the store's history (declarations decided, results
    posted), as the service replays it at a cold start; saved as a state folder."""
    from customs_risk.jobs.state_rebuild import StateRebuildOptions, run

    raise typer.Exit(run(StateRebuildOptions(model, out, store_url)))


Actor = Annotated[
    str | None, typer.Option(help="Who does it, recorded with the entry (default: login name).")
]


@lists_app.command("import")
def lists_import(
    path: Annotated[Path, typer.Argument(help="A list YAML file or a folder of them.")],
    actor: Actor = None,
    store_url: StoreUrl = None,
) -> None:
    """Add the entries of YAML files to the store (all or none; unchanged ones are skipped);
    the scoring service applies them within CUSTOMS_RISK_SERVE_LISTS_CHECK_SECONDS."""
    from customs_risk.jobs.lists import ListsOptions, run

    raise typer.Exit(run(ListsOptions("import", path=path, actor=actor, store_url=store_url)))


@lists_app.command("show")
def lists_show(
    show_all: Annotated[bool, typer.Option("--all", help="Retired entries too.")] = False,
    store_url: StoreUrl = None,
) -> None:
    """The store's entries: list, target, channel, validity, source, who added them, status."""
    from customs_risk.jobs.lists import ListsOptions, run

    raise typer.Exit(run(ListsOptions("show", show_all=show_all, store_url=store_url)))


@lists_app.command("retire")
def lists_retire(
    entry_id: Annotated[str, typer.Argument(help="The entry's id.")],
    actor: Actor = None,
    store_url: StoreUrl = None,
) -> None:
    """Retire an entry (kept, with who and when); the service stops applying it."""
    from customs_risk.jobs.lists import ListsOptions, run

    options = ListsOptions("retire", entry_id=entry_id, actor=actor, store_url=store_url)
    raise typer.Exit(run(options))


@lists_app.command("export")
def lists_export(
    out: Annotated[Path, typer.Option(help="Folder to write, one YAML file per entry.")],
    store_url: StoreUrl = None,
) -> None:
    """The entries in force as YAML files (for review in git; `lists import` reads them)."""
    from customs_risk.jobs.lists import ListsOptions, run

    raise typer.Exit(run(ListsOptions("export", path=out, store_url=store_url)))


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="The client's name (recorded with its requests).")],
    scope: Annotated[str, typer.Option(help="score, outcomes or admin (both).")] = "score",
    rate: Annotated[
        float | None, typer.Option(help="Requests per second (default: the service's).")
    ] = None,
    store_url: StoreUrl = None,
) -> None:
    """Make a key and print it (once: the store keeps its hash only)."""
    from customs_risk.jobs.keys import KeysOptions, run

    raise typer.Exit(run(KeysOptions("add", name, scope, rate, store_url)))


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The key's name.")], store_url: StoreUrl = None
) -> None:
    """Revoke a key: the service refuses it within 5 seconds."""
    from customs_risk.jobs.keys import KeysOptions, run

    raise typer.Exit(run(KeysOptions("revoke", name, store_url=store_url)))


@keys_app.command("list")
def keys_list(store_url: StoreUrl = None) -> None:
    """The keys: name, scope, rate, when made and revoked (never the key)."""
    from customs_risk.jobs.keys import KeysOptions, run

    raise typer.Exit(run(KeysOptions("list", store_url=store_url)))


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    tag: Annotated[str | None, typer.Option(help="BentoML model tag (default latest).")] = None,
) -> None:
    """Serve /score, /outcomes and /model with BentoML (runs ``bentoml serve``)."""
    from customs_risk.jobs.serve import ServeOptions, run

    raise typer.Exit(run(ServeOptions(port, host, tag)))


@thresholds_app.command("refresh")
def thresholds_refresh(
    declarations: Annotated[
        Path, typer.Option(help="Recent declarations: parquet file or dataset folder.")
    ],
    out: Annotated[
        Path,
        typer.Option(help="Thresholds JSON the service follows (CUSTOMS_RISK_SERVE_THRESHOLDS)."),
    ],
    alias: Annotated[str, typer.Option(help="Registered model alias to calibrate.")] = "champion",
    profiles: Annotated[Path | None, typer.Option(help="Risk profile folder.")] = Path("profiles"),
    as_of: Annotated[
        str | None, typer.Option(help="Day the thresholds serve (default: after the data).")
    ] = None,
    period_start: Annotated[
        str | None, typer.Option(help="Capacity period start (default: 1st of the month).")
    ] = None,
    window_days: Annotated[float, typer.Option(help="Calibration window in days.")] = 28.0,
    horizon_days: Annotated[float, typer.Option(help="Days to catch up a share gap.")] = 3.0,
    store_url: Annotated[
        str | None, typer.Option(help="Decision store URL (default: CUSTOMS_RISK_STORE_URL).")
    ] = None,
) -> None:
    """Recalibrate per-office thresholds on recent declarations, paced by the period's
    decisions in the store; the service picks the file up without a restart."""
    from customs_risk.jobs.thresholds_refresh import ThresholdsRefreshOptions, run

    options = ThresholdsRefreshOptions(
        declarations,
        out,
        alias,
        profiles,
        as_of,
        period_start,
        window_days,
        horizon_days,
        store_url,
    )
    raise typer.Exit(run(options))


@app.command("platform")
def platform(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """The risk management platform (web pages for analysts, supervisors and officers) on the
    scoring service's store; dashboards from CUSTOMS_RISK_PLATFORM_DATA."""
    from customs_risk.jobs.platform import PlatformOptions, serve

    raise typer.Exit(serve(PlatformOptions(host, port)))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="admin, supervisor, analyst or officer.")],
    scope: Annotated[str, typer.Option(help="HQ or a district id.")] = "HQ",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a platform user (the first admin too); the password is asked on the terminal."""
    from customs_risk.jobs.platform import UserOptions, add_user

    raise typer.Exit(add_user(UserOptions(name, role, scope, password_stdin)))


if __name__ == "__main__":
    app()
