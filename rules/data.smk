rule prepare_data:
    output:
        dataset="results/data/{dataset}/dataset.pt",
        summary="results/data/{dataset}/summary.json",
    log:
        "logs/prepare_data/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        split=lambda wildcards: dataset_config(wildcards)["split"],
    script:
        "../workflow_scripts/prepare_data.py"
