rule prepare_data:
    output:
        dataset="results/data/{dataset}/dataset.pt",
        summary="results/data/{dataset}/summary.json",
        members="results/data/{dataset}/splits.json",
    log:
        "logs/prepare_data/{dataset}.log",
    benchmark:
        "benchmarks/results/prepare_data/{dataset}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    params:
        split=lambda wildcards: dataset_config(wildcards)["split"],
        source=lambda wildcards: dataset_config(wildcards)["source"],
    script:
        "../workflow_scripts/prepare_data.py"
