"""The manifest of every kind of result directory, as typed models on one shared base.

A manifest (`manifest.json`) says what a run is: its kind, the versions that made it, its
identity (`run_id`, a hash of the settings `--resume` must match, which each kind declares in
`RESUME_FIELDS`), the files it owns, the hashes of its input copies, and the schema version.
`read_manifest` is the one reader: it returns the model of the directory's kind, so plots,
reports and `sim.batch.results.load` read fields, not string keys. Manifests written before the
schema version existed (version 1) load as they are; fields a kind does not declare are kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from sim.model.errors import InputError

MANIFEST = "manifest.json"
SCHEMA_VERSION = 2  # 1: manifests written before this field existed


def tables(*names: str) -> tuple[str, ...]:
    """The files of tables written as Parquet and CSV (`sim.batch.jobs.Files.write_table`)."""
    return tuple(f"{name}.{suffix}" for name in names for suffix in ("csv", "parquet"))


class Record(BaseModel):
    """A part of a manifest: typed where declared, further keys kept as written."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class FileRef(Record):
    """An input file of a run: its name, where it was read, its hash, and its copy in the run."""

    name: str | None = None
    path: str | None = None
    hash: str
    copy_name: str | None = Field(None, alias="copy")

    model_config = ConfigDict(extra="allow", populate_by_name=True, serialize_by_alias=True)

    @model_serializer(mode="wrap")
    def _recorded(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only what the reference has: a field left unset is not written as null."""
        return {k: v for k, v in handler(self).items() if v is not None}


class BatchScenario(FileRef):
    """The scenario of a batch: where it was read, its calendar and members."""

    source: str
    members: list[str]
    months: int
    start: str
    end: str


class PosteriorRef(Record):
    """The calibration a run draws its parameters from (`sim.batch.posterior`)."""

    directory: str
    hash: str
    experiment: str = ""
    cases: list[str] = []
    samples: int = 0
    parameters: list[str] = []
    runs_per_draw: int = 1  # consecutive runs sharing one parameter draw (sim.batch.posterior)
    values: dict[str, dict[str, Any]] = {}  # each parameter: drawn or held, mean, 95% interval


class Manifest(Record):
    """What every result directory records, whatever its kind."""

    KIND: ClassVar[str] = ""
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = ("kind",)
    OWNED: ClassVar[tuple[str, ...]] = ()  # what a run of this kind writes (--force removes)

    kind: str
    schema_version: int = 1
    versions: dict[str, str] = {}
    run_id: str | None = None
    owned: list[str] = []
    inputs: dict[str, str] = {}
    started: str | None = None
    finished: str | None = None

    def document(self) -> dict[str, Any]:
        """The manifest as JSON data (what `manifest.json` holds)."""
        return self.model_dump(mode="json", by_alias=True)

    def resume_command(self, out: Path) -> str:
        """The command that finishes this run if it was interrupted."""
        experiment = getattr(self, "experiment", None)
        path = experiment.path if isinstance(experiment, FileRef) else "EXPERIMENT"
        return f"alliance {self.kind} {path}{_with_inputs(self)} --out {out} --resume"


def _with_inputs(manifest: Manifest) -> str:
    """The --observations and --posterior options of a resume command, where the run had them."""
    observations = getattr(manifest, "observations", None)
    posterior = getattr(manifest, "posterior", None)
    parts = [f" --observations {observations.path}"] if isinstance(observations, FileRef) else []
    if isinstance(posterior, PosteriorRef):
        parts.append(f" --posterior {posterior.directory}")
    return "".join(parts)


class BatchManifest(Manifest):
    """A batch (`alliance batch`), or a forecast: a batch conditioned on facts."""

    KIND: ClassVar[str] = "batch"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        "kind", "scenario.hash", "seed", "runs", "chunk_size", "trajectories", "parameters",
        "versions.alliance-defection", "forecast", "posterior.hash", "posterior.runs_per_draw",
    )  # fmt: skip
    OWNED: ClassVar[tuple[str, ...]] = (
        "scenario.yaml",
        "summary",
        "figures",
        "report.html",
        "compare",
    )

    kind: Literal["batch"] = "batch"
    scenario: BatchScenario
    parameters: dict[str, float]
    parameter_overrides: dict[str, float] = {}
    seed: int
    runs: int
    chunk_size: int
    chunks: int
    stream_block: int
    trajectories: bool = False
    chunk_files: list[str]
    sessions: list[dict[str, Any]] = []
    posterior: PosteriorRef | None = None
    forecast: dict[str, Any] | None = None  # what a forecast conditions on (its record)
    conditioning: dict[str, Any] | None = None  # a forecast's shares, likelihood and ESS

    def resume_command(self, out: Path) -> str:
        """`alliance batch` (or `forecast`) with the settings of this run and `--resume`."""
        return f"{self.command(out)} --resume"

    def command(self, out: Path | str) -> str:
        """`alliance batch` (or `forecast`) with the settings of this run, into `out`."""
        command = "forecast" if self.forecast is not None else "batch"
        parts = [
            f"alliance {command} {self.scenario.source} --out {out} --runs {self.runs} "
            f"--seed {self.seed} --chunk-size {self.chunk_size}"
        ]
        if self.forecast is not None:
            record = self.forecast
            parts.append(
                f"--observations {record['observations']['path']} --as-of {record['as_of']} "
                f"--reached-in {record['reached_in']}"
            )
        if self.trajectories:
            parts.append("--trajectories")
        parts += [f"--param {name}={value}" for name, value in self.parameter_overrides.items()]
        if self.posterior is not None:
            parts.append(f"--posterior {self.posterior.directory}")
            parts.append(f"--runs-per-draw {self.posterior.runs_per_draw}")
        elif self.forecast is not None:  # a forecast at fixed parameters, not the default
            parts.append("--posterior none")
        return " ".join(parts)


class ExperimentManifest(Manifest):
    """A sweep or a sensitivity analysis: an experiment's design run point by point."""

    KIND: ClassVar[str] = "sweep"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        "experiment.hash", "scenario.hash", "seed", "replications", "design", "parameters",
        "outcomes", "points", "chunks", "lanes_per_chunk", "posterior.hash",
    )  # fmt: skip
    OWNED: ClassVar[tuple[str, ...]] = (
        *tables("results", "indices", "indices_second_order"),
        "design.csv", "experiment.yaml", "scenario.yaml", "figures",
    )  # fmt: skip

    kind: Literal["sweep", "sensitivity"]
    experiment: FileRef
    scenario: FileRef
    varied: list[str]
    parameters: dict[str, Any]
    design: dict[str, Any]
    points: int
    replications: int
    runs: int
    seed: int
    outcomes: list[str]
    chunks: int
    lanes_per_chunk: int
    posterior: PosteriorRef | None = None


class CalibrateManifest(Manifest):
    """A calibration: the experiment, its cases and what was fitted."""

    KIND: ClassVar[str] = "calibrate"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        "experiment.hash", "cases", "seed", "replications", "calibration", "fitted",
    )  # fmt: skip
    OWNED: ClassVar[tuple[str, ...]] = (
        *tables("posterior", "fitted", "correlations", "facts", "cases", "outcomes"),
        "posterior.json", "summary.json", "experiment.yaml", "scenario.yaml", "observations.yaml",
        "inputs", "chain.npz", "scenario.calibrated.yaml",
    )  # fmt: skip

    kind: Literal["calibrate"] = "calibrate"
    experiment: FileRef
    scenario: FileRef
    observations: FileRef | None = None  # --observations, where it gave the one case's facts
    cases: list[dict[str, Any]]
    fitted: list[str]
    fixed: dict[str, float] = {}
    seed: int
    replications: int
    calibration: dict[str, Any]


class CrossvalManifest(Manifest):
    """A leave-one-case-out cross-validation."""

    KIND: ClassVar[str] = "crossval"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        "experiment.hash", "cases", "runs", "seed", "folds", "only_fold",
    )  # fmt: skip
    OWNED: ClassVar[tuple[str, ...]] = (
        *tables("events", "scores", "base_rates", "horizon", "logit"),
        "summary.json", "figures", "folds", "experiment.yaml", "scenario.yaml",
    )  # fmt: skip

    kind: Literal["crossval"] = "crossval"
    experiment: FileRef
    cases: list[str]
    runs: int
    seed: int
    folds: list[list[int]] = []  # the cases' indices per fold (--folds K); [] one per case
    only_fold: int | None = None  # --only-fold: the one fold run (1-based); None every fold

    def resume_command(self, out: Path) -> str:
        """`alliance crossval` with this run's folds and single fold, and `--resume`."""
        folds = f" --folds {len(self.folds)}" if self.folds else ""
        only = f" --only-fold {self.only_fold}" if self.only_fold is not None else ""
        return f"alliance crossval {self.experiment.path}{folds}{only} --out {out} --resume"


class ScoreManifest(CrossvalManifest):
    """Cases scored under a posterior fitted elsewhere (`alliance score`): no refit."""

    KIND: ClassVar[str] = "score"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        *CrossvalManifest.RESUME_FIELDS, "posterior.hash", "left_out",
    )  # fmt: skip

    kind: Literal["score"] = "score"  # type: ignore[assignment]
    posterior: PosteriorRef
    left_out: list[str] = []  # cases of the experiment not scored (--leave-out)

    def resume_command(self, out: Path) -> str:
        """The command that finishes this run: its posterior, folds and left-out cases."""
        folds = f" --folds {len(self.folds)}" if self.folds else ""
        left = "".join(f" --leave-out {name}" for name in self.left_out)
        return (
            f"alliance score {self.experiment.path} --posterior {self.posterior.directory}"
            f"{folds}{left} --runs {self.runs} --out {out} --resume"
        )


class BacktestManifest(Manifest):
    """A backtest: a scenario's forecasts scored against observed facts."""

    KIND: ClassVar[str] = "backtest"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        "scenario.hash", "observations.hash", "origin", "condition", "reached_in", "runs", "seed",
        "chunks", "posterior.hash",
    )  # fmt: skip
    OWNED: ClassVar[tuple[str, ...]] = (
        *tables("events", "scores", "skill", "logit", "horizon"),
        "summary.json", "figures", "forecast", "scenario-at-origin.yaml", "origins",
    )  # fmt: skip

    kind: Literal["backtest"] = "backtest"
    scenario: FileRef
    observations: FileRef
    origin: str
    condition: bool
    reached_in: str | None = None
    runs: int
    seed: int
    chunks: int
    posterior: PosteriorRef | None = None

    def resume_command(self, out: Path) -> str:
        """`alliance backtest` with the settings of this run and `--resume`."""
        origin = f" --origin {self.origin}" if "@" in self.scenario.hash else ""
        return _backtest_command(self, out, origin)


class OriginsManifest(Manifest):
    """A rolling-origin backtest: one backtest per origin, and skill by origin."""

    KIND: ClassVar[str] = "backtest-origins"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        "scenario.hash", "observations.hash", "origins", "runs", "seed", "condition",
        "posterior.hash",
    )  # fmt: skip
    OWNED: ClassVar[tuple[str, ...]] = BacktestManifest.OWNED

    kind: Literal["backtest-origins"] = "backtest-origins"
    scenario: FileRef
    observations: FileRef
    origins: list[str]
    runs: int
    seed: int
    condition: bool
    reached_in: str | None = None
    posterior: PosteriorRef | None = None

    def resume_command(self, out: Path) -> str:
        """`alliance backtest --origins` with the settings of this run and `--resume`."""
        return _backtest_command(self, out, f" --origins {','.join(self.origins)}")


def _backtest_command(manifest: BacktestManifest | OriginsManifest, out: Path, origin: str) -> str:
    """`alliance backtest` with a backtest's settings, its `origin` option(s) and `--resume`."""
    if not manifest.condition:
        origin += " --no-condition"
    elif manifest.reached_in not in (None, "impose"):
        origin += f" --reached-in {manifest.reached_in}"
    return (
        f"alliance backtest {manifest.scenario.path}{_with_inputs(manifest)} --out {out} "
        f"--runs {manifest.runs} --seed {manifest.seed}{origin} --resume"
    )


KINDS: dict[str, type[Manifest]] = {
    "batch": BatchManifest,
    "sweep": ExperimentManifest,
    "sensitivity": ExperimentManifest,
    "calibrate": CalibrateManifest,
    "crossval": CrossvalManifest,
    "score": ScoreManifest,
    "backtest": BacktestManifest,
    "backtest-origins": OriginsManifest,
}


def read_manifest_data(out: Path, kind: str | None = None) -> dict[str, Any]:
    """The manifest of a run directory as JSON data, checked to be of `kind`.

    InputError if `out` is not a directory, has no manifest, or holds a run of another kind.
    """
    out = Path(out)
    expected = f"a {kind} directory" if kind else "a run directory"
    if not out.is_dir():
        raise InputError(str(out), "", f"not a directory; expected {expected}")
    path = out / MANIFEST
    if not path.is_file():
        raise InputError(str(out), "", f"no {MANIFEST}; expected {expected}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(str(path), "", f"unreadable manifest ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "", "expected a JSON object")
    if kind is not None and data.get("kind") != kind:
        raise InputError(str(path), "kind", f"is {data.get('kind')!r}; expected {expected} here")
    return data


def read_manifest[M: Manifest](
    out: Path,
    kind: str | None = None,
    model: type[M] = Manifest,  # type: ignore[assignment]
) -> M:
    """The typed manifest of a run directory (the one reader of manifests), of `kind` if given
    (`model`: the class the caller reads it as, e.g. BatchManifest).

    InputError naming the field when the manifest does not have the shape of its kind.
    """
    path = Path(out) / MANIFEST
    manifest = parse_manifest(read_manifest_data(out, kind or model.KIND or None), path)
    if not isinstance(manifest, model):
        raise InputError(str(path), "kind", f"is {manifest.kind!r}; expected a {model.KIND} run")
    return manifest


def parse_manifest(data: dict[str, Any], where: Path | str = MANIFEST) -> Manifest:
    """The model of the manifest's kind (a plain `Manifest` for a kind this version lacks)."""
    model = KINDS.get(str(data.get("kind")), Manifest)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise InputError(str(where), field, f"{error['msg']} (a damaged manifest?)") from None
