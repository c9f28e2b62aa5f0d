rule train_base:
    input:
        dataset="results/data/{dataset}/dataset.pt",
    output:
        model="results/models/{dataset}/model.pt",
        history="results/models/{dataset}/history.tsv",
    params:
        model=lambda wildcards: dataset_config(wildcards)["model"],
    resources:
        gpu=1,
    threads: 2
    log:
        "logs/train_base/{dataset}.log",
    benchmark:
        "benchmarks/results/train_base/{dataset}.tsv"
    conda:
        "../envs/pytorch.yaml"
    script:
        "../workflow_scripts/train_base.py"
