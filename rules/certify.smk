rule select_fig1_sigma:
    input:
        # Validation only: the choice never sees test metrics (nor waits for them).
        metrics="results/sweep/{dataset}/learned_{init}/val.tsv",
        snapshots="results/sigma/{dataset}/init_{init}/snapshots.pt",
    output:
        sigmas="results/certify/{dataset}/fig1_init_{init}/sigmas.pt",
        choice="results/certify/{dataset}/fig1_init_{init}/choice.json",
    log:
        "logs/select_fig1_sigma/{dataset}/init_{init}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        accuracy_tolerance=lambda wildcards: dataset_config(wildcards)["fig1"]["accuracy_tolerance"],
    script:
        "../workflow_scripts/select_fig1_sigma.py"


rule certify:
    input:
        dataset=data_file("dataset.pt"),
        model="results/models/{dataset}/model.pt",
        sigmas="results/certify/{dataset}/fig1_init_{init}/sigmas.pt",
    output:
        certificates="results/certify/{dataset}/fig1_init_{init}/{kind}.tsv",
    log:
        "logs/certify/{dataset}/fig1_init_{init}/{kind}.log",
    benchmark:
        "benchmarks/results/certify/{dataset}/fig1_init_{init}/{kind}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("certify"),
    params:
        fig1=fig1_certify_params,
        alpha=config["alpha"],
        batch_size=config["certify_batch_size"],
        compute=compute_params,
    script:
        "../workflow_scripts/certify.py"
