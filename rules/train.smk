rule train_base:
    input:
        dataset=data_file("dataset.pt"),
    output:
        model="results/models/{dataset}/model.pt",
        history="results/models/{dataset}/history.tsv",
    log:
        "logs/train_base/{dataset}.log",
    benchmark:
        "benchmarks/results/train_base/{dataset}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("train_base"),
    params:
        model=model_params,
        compute=training_compute_params,
        # Per-epoch training state for resuming a killed job: deliberately not an output (Snakemake
        # deletes the outputs of a failed job); the script removes it once the model is saved.
        resume="results/models/{dataset}/resume.pt",
    script:
        "../workflow_scripts/train_base.py"
