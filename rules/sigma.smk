rule optimize_sigma:
    input:
        dataset=data_file("dataset.pt"),
        model="results/models/{dataset}/model.pt",
    output:
        snapshots="results/sigma/{dataset}/init_{init}/snapshots.pt",
        history="results/sigma/{dataset}/init_{init}/history.tsv",
    log:
        "logs/optimize_sigma/{dataset}/init_{init}.log",
    benchmark:
        "benchmarks/results/optimize_sigma/{dataset}/init_{init}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("optimize_sigma"),
    params:
        sigma=sigma_params,
        compute=compute_params,
        # Per-sub-epoch state for resuming a killed job: deliberately not an output (Snakemake
        # deletes the outputs of a failed job); the script removes it once the outputs are written.
        resume="results/sigma/{dataset}/init_{init}/resume.pt",
    script:
        "../workflow_scripts/optimize_sigma.py"


# The validation sweep is raced (docs/method.md, "Racing the validation sweep"): stage s of every
# sweep certifies the stage's block of validation points for the candidates still running, one
# decision per dataset and stage reads every record so far, and evaluate_sigma (split val) is the
# last stage. Figure 1's sweeps read no decision: they run to the end.
rule race_stage:
    input:
        unpack(race_stage_inputs),
    output:
        records="results/sweep/{dataset}/{kind}_{init}/val_stage{stage}_records.tsv.gz",
        stage="results/sweep/{dataset}/{kind}_{init}/val_stage{stage}.json",
    log:
        "logs/race_stage/{dataset}/{kind}_{init}/stage{stage}.log",
    benchmark:
        "benchmarks/results/race_stage/{dataset}/{kind}_{init}/stage{stage}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("race_stage"),
    params:
        evaluation=race_params,
        alpha=config["alpha"],
        batch_size=config["certify_batch_size"],
        compute=compute_params,
    script:
        "../workflow_scripts/race_stage.py"


rule decide_race:
    input:
        unpack(decide_inputs),
    output:
        decision="results/sweep/{dataset}/race/decision_{stage}.json",
    log:
        "logs/decide_race/{dataset}/stage{stage}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        error_rate=lambda wildcards: dataset_config(wildcards)["sweep_eval"]["racing"]["error_rate"],
        alpha=config["alpha"],
        protected_inits=protected_inits,
    script:
        "../workflow_scripts/decide_race.py"


rule evaluate_sigma:
    input:
        unpack(evaluate_inputs),
    output:
        metrics="results/sweep/{dataset}/{kind}_{init}/{split}.tsv",
        records="results/sweep/{dataset}/{kind}_{init}/{split}_records.tsv.gz",
    log:
        "logs/evaluate_sigma/{dataset}/{kind}_{init}/{split}.log",
    benchmark:
        "benchmarks/results/evaluate_sigma/{dataset}/{kind}_{init}/{split}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("evaluate_sigma"),
    params:
        evaluation=sweep_eval_params,
        alpha=config["alpha"],
        batch_size=config["certify_batch_size"],
        compute=compute_params,
    script:
        "../workflow_scripts/evaluate_sigma.py"


# Figure 2's fronts are chosen on validation before the test split certifies anything, and the test
# split certifies only their members (at most sweep_eval.test_front_members per kind); with
# sweep_eval.test_cloud every candidate is certified on test instead (evaluate_sigma, split test).
rule choose_fronts:
    input:
        metrics=validation_metrics,
    output:
        fronts="results/sweep/{dataset}/val_fronts.json",
    log:
        "logs/choose_fronts/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        test_front_members=lambda wildcards: dataset_config(wildcards)["sweep_eval"]["test_front_members"],
    script:
        "../workflow_scripts/choose_fronts.py"


rule certify_front:
    input:
        unpack(certify_front_inputs),
    output:
        metrics="results/sweep/{dataset}/front_{kind}/test.tsv",
        records="results/sweep/{dataset}/front_{kind}/test_records.tsv.gz",
    log:
        "logs/certify_front/{dataset}/{kind}.log",
    benchmark:
        "benchmarks/results/certify_front/{dataset}/{kind}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("certify_front"),
    params:
        evaluation=front_test_params,
        alpha=config["alpha"],
        batch_size=config["certify_batch_size"],
        compute=compute_params,
    script:
        "../workflow_scripts/certify_front.py"
