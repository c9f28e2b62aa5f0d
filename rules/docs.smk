# docs/results.md: the report of a run, generated from its tables (never typed), with the figures it
# shows copied under docs/results/, this machine's per-pass rates and the paper preset's cost.
#   snakemake docs/results.md --cores 2 --config preset=cpu 'datasets={mnist: {source: {path: ...}}, ...}'


rule measure_pass_rates:
    output:
        rates="results/cost/pass_rates.json",
    log:
        "logs/measure_pass_rates.log",
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    script:
        "../workflow_scripts/measure_pass_rates.py"


rule results_doc:
    input:
        unpack(results_doc_inputs),
        envelope_benchmarks=envelope_benchmarks(config["run_datasets"]),
        pass_rates="results/cost/pass_rates.json",
        paper_preset=Path(workflow.basedir) / "presets" / "paper.yaml",
    output:
        doc="docs/results.md",
        figures=results_doc_figures(),
    log:
        "logs/results_doc.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        datasets=config["run_datasets"],
        fig1_datasets=fig1_keys(config["run_datasets"]),
        titles=titles_of(config["run_datasets"]),
        jobs=results_doc_jobs,
        command=results_command(),
        config=config,
    script:
        "../workflow_scripts/write_results_doc.py"
