"""The real workflow, end to end, on the tiny configuration (the session's run); config validation; lint."""

import json

import pandas as pd
import pytest
import yaml

from support.workflow import REPO, SNAKEMAKE, TINY_CONFIG, snakemake

from nusmooth.artifacts import CERTIFICATES
from nusmooth.registry import SIGMA_KINDS


def test_tiny_run_renders_figure_1(tiny_all):
    pdf, png = tiny_all / "figures/fig1.pdf", tiny_all / "figures/fig1.png"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000
    assert png.read_bytes().startswith(b"\x89PNG")


def test_certificates_have_one_row_per_test_point(tiny_all):
    tiny = yaml.safe_load(TINY_CONFIG.read_text())["datasets"]["mnist5k"]
    folder = tiny_all / "results/certify/mnist5k/fig1_init_0.25"
    for kind in SIGMA_KINDS:
        table = pd.read_csv(folder / f"{kind}.tsv", sep="\t")
        assert list(table.columns) == list(CERTIFICATES.keys)
        assert len(table) == tiny["fig1"]["test_points"]
        assert (table["sigma_space"] == "[0,1] pixels").all() and (table["precision"] == "fp32").all()
        certified = table["predict"] != -1
        assert (table.loc[certified, "pa_lower"] >= 0.5).all()
        assert (table["correct"] == (table["predict"] == table["label"]).astype(int)).all()


def expected_fig1_choice(validation: pd.DataFrame, tolerance: float) -> int:
    """The selection rule written out again, apart from nusmooth.selection: among the snapshots whose
    validation accuracy is within ``tolerance`` of the best, the largest validation mean area (no area
    counts as none), ties to the earliest sub-epoch."""
    best = max(validation["accuracy"])
    chosen, chosen_area = None, None
    for row in validation.sort_values("sub_epoch").itertuples():
        if row.accuracy < best - tolerance - 1e-12:
            continue
        area = float("-inf") if pd.isna(row.mean_area) else row.mean_area
        if chosen is None or area > chosen_area:
            chosen, chosen_area = int(row.sub_epoch), area
    return chosen


def test_fig1_choice_follows_the_rule_on_validation_metrics(tiny_all):
    import torch

    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
    tiny_fig1 = yaml.safe_load(TINY_CONFIG.read_text())["datasets"]["mnist5k"]["fig1"]
    default = schema["$defs"]["dataset"]["properties"]["fig1"]["properties"]["accuracy_tolerance"]["default"]
    tolerance = tiny_fig1.get("accuracy_tolerance", default)
    for init in tiny_fig1["inits"]:
        folder = tiny_all / "results/certify/mnist5k" / f"fig1_init_{init}"
        choice = json.loads((folder / "choice.json").read_text())
        validation = pd.read_csv(tiny_all / f"results/sweep/mnist5k/learned_{init}/val.tsv", sep="\t")
        assert sorted(validation["sub_epoch"]) == [1, 2]  # two snapshots to choose from
        assert choice["sub_epoch"] == expected_fig1_choice(validation, tolerance)
        row = validation.set_index("sub_epoch").loc[choice["sub_epoch"]]
        assert choice["val"]["accuracy"] == pytest.approx(row["accuracy"], abs=0)
        # The isotropic sigma is the mean of the chosen snapshot's vector, not of another snapshot's.
        saved = torch.load(tiny_all / f"results/sigma/mnist5k/init_{init}/snapshots.pt", weights_only=True)
        learned = saved["sigmas"][saved["sub_epochs"].index(choice["sub_epoch"])]
        assert choice["isotropic_sigma"] == pytest.approx(float(learned.mean()), rel=1e-6)


def test_sweep_metrics_cover_validation_and_the_fronts_on_test(tiny_all):
    sweep = tiny_all / "results/sweep/mnist5k"
    validation = pd.read_csv(sweep / "learned_0.25/val.tsv", sep="\t")
    assert set(validation["split"]) == {"val"} and sorted(validation["sub_epoch"]) == [1, 2]
    fronts = json.loads((sweep / "val_fronts.json").read_text())
    for kind in SIGMA_KINDS:
        test = pd.read_csv(sweep / f"front_{kind}/test.tsv", sep="\t")
        assert set(test["split"]) == {"test"} and test["complete"].all() and (test["race_stage"] == 0).all()
        certified = [(m["init"], m["sub_epoch"]) for m in fronts["kinds"][kind]["certified"]]
        assert sorted(zip(test["init"], test["sub_epoch"])) == sorted(certified)
        assert test["accuracy"].between(0, 1).all()
    assert not [p for kind in SIGMA_KINDS for p in sweep.glob(f"{kind}_*/test.tsv")]  # no cloud on test


def test_the_validation_sweep_races_in_two_stages(tiny_all):
    """The tiny config races its 20 validation points in blocks of 16 and 4; Figure 1's sweeps (0.25)
    read no decision and run to the end; every record says the stage it reached."""
    sweep = tiny_all / "results/sweep/mnist5k"
    decision = json.loads((sweep / "race/decision_1.json").read_text())
    assert decision["plan"]["schedule"] == [16, 20] and decision["points"] == 16 and decision["candidates"] == 6
    assert decision["plan"]["protected_inits"] == [0.25]
    block = json.loads((sweep / "learned_0.5/val_stage1.json").read_text())
    assert block["block"] == [0, 16] and block["certified"] == [1, 2] and block["num_elements"] == 784
    gone = {(d["kind"], d["init"], d["sub_epoch"]): d["stage"] for d in decision["dropped"]}
    for path in sweep.glob("*_*/val_records.tsv.gz"):
        records = pd.read_csv(path, sep="\t")
        for (kind, init, sub_epoch), rows in records.groupby(["kind", "init", "sub_epoch"]):
            stage = gone.get((kind, init, sub_epoch), 2)
            assert (rows["race_stage"] == stage).all() and sorted(rows["idx"]) == list(range([16, 20][stage - 1]))


def streams_by_job(logs) -> dict[str, set[tuple[str, str]]]:
    """Every job's (stream, seed) pairs, from its log (one log file per job), keyed by the log path; the
    jobs of one raced validation sweep (its racing stages and its last stage, evaluate_sigma on val)
    are one owner: they certify blocks of one sweep with its one stream, by design."""
    import re

    jobs = {}
    for log in logs.rglob("*.log"):
        name = str(log.relative_to(logs))
        sweep = re.fullmatch(r"(?:race_stage/(.+)/stage\d+|evaluate_sigma/(.+)/val)\.log", name)
        owner = f"validation sweep {sweep.group(1) or sweep.group(2)}" if sweep else name
        jobs.setdefault(owner, set()).update(re.findall(r"random stream (\S+): seed (\d+)", log.read_text()))
    return jobs


def test_every_stage_logs_its_own_random_stream(tiny_all):
    """Each noise-drawing job names its stream and seed in its log; no two jobs draw from one seed,
    even under one stream name (which is what a stream that forgot a wildcard looks like), and no two
    streams of one job share a seed."""
    jobs = streams_by_job(tiny_all / "logs")
    users = {}
    for job, pairs in jobs.items():
        for stream, seed in pairs:
            users.setdefault(seed, set()).add((job, stream))
    streams = [stream for pairs in jobs.values() for stream, _ in pairs]
    assert any(s.startswith("evaluate_sigma/mnist5k/learned/0.25/val") for s in streams)
    assert any(s.startswith("evaluate_sigma/mnist5k/learned/0.25/test") for s in streams)
    assert any(s.startswith("certify/mnist5k/0.25/learned") for s in streams)
    assert any(s.startswith("optimize_sigma/mnist5k/0.25/noise") for s in streams)
    assert sum(bool(pairs) for pairs in jobs.values()) >= 8  # sweeps, their evaluations and certification
    shared = {seed: sorted(owners) for seed, owners in users.items() if len(owners) > 1}
    assert not shared, shared


def test_bad_config_fails_at_once_naming_the_key(tmp_path):
    """The wiring of the config check: the Snakefile stops a dry run on a bad value, naming its key,
    before planning any job. Each rule of the check: tests/unit/test_workflow_config.py."""
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"mnist5k": {"fig1": {"inits": [0.33]}}}}))
    result = snakemake(tmp_path, "figures/fig1.pdf", "-n", configfile=config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config key 'datasets.mnist5k.fig1.inits'" in output, output[-3000:]
    assert not (tmp_path / "results").exists()


def test_a_misspelt_key_fits_on_one_screen(tmp_path):
    """The wiring of the schema's message (issue 27, case 4: one useful line above up to 1,728 lines of
    schema dump): the key, its path and the closest key, and no schema (the message: test_workflow_config)."""
    config = tmp_path / "typo.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"mnist5k": {"fig1": {"test_point": 20}}}}))
    result = snakemake(tmp_path, "figures/fig1.pdf", "-n", configfile=config)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Did you mean 'test_points'?" in output, output[-3000:]
    assert len(output.splitlines()) < 15 and "'description'" not in output


def test_an_unknown_preset_lists_the_presets_that_exist(tmp_path):
    """The wiring of the preset file (the message itself: tests/unit/test_workflow_config.py)."""
    result = snakemake(tmp_path, "figures/fig1.pdf", "-n", "--config", "preset=papr")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown preset 'papr'" in output and "Presets: default, cpu, paper" in output, output[-3000:]
    assert "preset=<one of these>" in output
    assert not (tmp_path / "results").exists()


def test_lint_and_both_formatters_are_clean():
    import subprocess
    from pathlib import Path

    lint = subprocess.run(
        [SNAKEMAKE, "--lint", "-s", str(REPO / "Snakefile")], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    snakefmt = str(Path(SNAKEMAKE).with_name("snakefmt"))
    fmt = subprocess.run(
        [snakefmt, "--check", "Snakefile", "rules/"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert fmt.returncode == 0, fmt.stderr[-3000:]
    # The Python tree has one formatter, configured in pyproject.toml ([tool.black]).
    black = str(Path(SNAKEMAKE).with_name("black"))
    python = subprocess.run(
        [black, "--check", "workflow_scripts", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert python.returncode == 0, python.stderr[-3000:]


def test_racing_chooses_what_the_full_sweep_chooses(tiny_all, tmp_path):
    """The same fronts and Figure 1 choice with dropping switched off (error_rate 0: the full sweep, same
    jobs): every candidate's records are then whole, and each candidate the race kept has the full
    sweep's records to the bit (the blocks carry the full sweep's noise)."""
    from support import copy_run

    run = copy_run(tiny_all, tmp_path / "run")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["datasets"]["mnist5k"]["sweep_eval"]["racing"]["error_rate"] = 0.0
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(config))
    sweep, choice = "results/sweep/mnist5k", "results/certify/mnist5k/fig1_init_0.25/choice.json"
    targets = [f"{sweep}/val_fronts.json", choice]
    result = snakemake(run, *targets, "--cores", "2", "--resources", "gpu=1", configfile=tmp_path / "full.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    full_decision = json.loads((run / f"{sweep}/race/decision_1.json").read_text())
    assert full_decision["dropped"] == [] and full_decision["plan"]["error_rate"] == 0.0
    for path in targets:
        assert (run / path).read_text() == (tiny_all / path).read_text(), path
    for path in sorted((tiny_all / sweep).glob("*_*/val_records.tsv.gz")):
        raced, full = (pd.read_csv(root / path.relative_to(tiny_all), sep="\t") for root in (tiny_all, run))
        kept = full.merge(raced[["kind", "init", "sub_epoch", "idx"]], on=["kind", "init", "sub_epoch", "idx"])
        assert len(full) == full.groupby(["kind", "init", "sub_epoch"]).ngroups * 20
        pd.testing.assert_frame_equal(
            kept.drop(columns="race_stage"), raced.drop(columns="race_stage"), check_exact=True
        )
