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
        split=block_params("split"),
        source=source_params,
    script:
        "../workflow_scripts/prepare_data.py"


rule summarize_test_split:
    input:
        dataset="results/data/{dataset}/dataset.pt",
    output:
        class_counts=report(
            "results/data/{dataset}/class_counts.tsv",
            caption="../report/class_counts.rst",
            category="Data",
            subcategory="{dataset}",
        ),
        mean_image="results/data/{dataset}/mean_val_image.pt",
    log:
        "logs/summarize_test_split/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    script:
        "../workflow_scripts/summarize_test_split.py"
