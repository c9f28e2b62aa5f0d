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
