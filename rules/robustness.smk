# Sigma learning's convergence per block, and docs/robustness.md: does the learned sigma's advantage
# survive noise training and another training run? (blocks in two regimes, k replicates each)
#   snakemake docs/robustness.md --cores 2 --resources gpu=1 --config preset=robustness 'datasets={mnist: ...}'


rule plot_convergence:
    input:
        unpack(convergence_inputs),
    output:
        table="results/convergence/{dataset}/sub_epochs.tsv",
        pdf="figures/convergence_{dataset}.pdf",
        png=report(
            "figures/convergence_{dataset}.png",
            caption="../report/convergence.rst",
            category="Sigma learning",
            subcategory="{dataset}",
        ),
    log:
        "logs/plot_convergence/{dataset}.log",
    wildcard_constraints:
        # A block: its replicates are drawn in its figure.
        dataset="[a-z0-9_]+",
    conda:
        "../envs/pytorch.yaml"
    params:
        sweeps=lambda wildcards: convergence_sweeps(wildcards.dataset),
        sigma=sigma_params,
        title=regime_title,
    script:
        "../workflow_scripts/plot_convergence.py"


rule robustness_doc:
    input:
        unpack(robustness_inputs),
        envelope_tests=envelope_test_inputs(robustness_instances()),
        envelope_benchmarks=envelope_benchmarks(robustness_instances()),
    output:
        doc="docs/robustness.md",
        figures=[copy for _, copy in robustness_shown()],
    log:
        "logs/robustness_doc.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        blocks=robustness_blocks(),
        instances=robustness_instances(),
        datasets=fig1_keys(robustness_instances()),
        envelope_constants=robustness_envelope_constants(),
        jobs=robustness_jobs,
        table_areas=config["figures"]["table_areas"],
        command=page_command("docs/robustness.md"),
        config=config,
    script:
        "../workflow_scripts/write_robustness_doc.py"
