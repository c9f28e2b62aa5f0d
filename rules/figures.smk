# Figures 1-4, the tables behind them and the robust / non-robust regions. Every output that the
# HTML report shows (snakemake --report report.html) is marked with report(); captions: report/*.rst.


rule plot_fig1:
    input:
        unpack(fig1_inputs(config["run_datasets"])),
        envelope_tests=envelope_test_inputs(config["run_datasets"]),
    output:
        pdf="figures/fig1.pdf",
        png=report(
            "figures/fig1.png",
            caption="../report/fig1.rst",
            category="Figure 1: certified accuracy",
            subcategory="all datasets",
        ),
        l2_pdf="figures/fig1_l2.pdf",
        l2_png=report(
            "figures/fig1_l2.png",
            caption="../report/fig1_l2.rst",
            category="Figure 1: certified accuracy",
            subcategory="all datasets",
        ),
    log:
        "logs/plot_fig1.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        datasets=fig1_keys(config["run_datasets"]),
        n=fig1_sample_counts(config["run_datasets"]),
        alpha=config["alpha"],
        band_thresholds=config["figures"]["band_thresholds"],
        envelope_constants=envelope_grids(config["run_datasets"]),
        titles=titles_of(config["run_datasets"]),
    script:
        "../workflow_scripts/plot_fig1.py"


rule plot_fig1_dataset:
    input:
        unpack(fig1_inputs(None)),
        envelope_tests=envelope_test_inputs(None),
    output:
        pdf="figures/fig1_{dataset}.pdf",
        png=report(
            "figures/fig1_{dataset}.png",
            caption="../report/fig1.rst",
            category="Figure 1: certified accuracy",
            subcategory="{dataset}",
        ),
    log:
        "logs/plot_fig1/{dataset}.log",
    wildcard_constraints:
        # figures/fig1_l2.pdf is plot_fig1's l2 companion, not a dataset's Figure 1.
        dataset=r"(?!l2(?![a-z0-9_]))[a-z0-9_]+",
    conda:
        "../envs/pytorch.yaml"
    params:
        datasets=fig1_keys(None),
        n=fig1_sample_counts(None),
        alpha=config["alpha"],
        band_thresholds=config["figures"]["band_thresholds"],
        envelope_constants=envelope_grids(None),
        titles=titles_of(None),
    script:
        "../workflow_scripts/plot_fig1.py"


rule tabulate_certified_accuracy:
    input:
        unpack(fig1_inputs(None)),
        envelope_tests=envelope_test_inputs(None),
    output:
        tsv=report(
            "results/tables/{dataset}/certified_accuracy.tsv",
            caption="../report/certified_accuracy.rst",
            category="Figure 1: certified accuracy",
            subcategory="{dataset}",
        ),
        l2=report(
            "results/tables/{dataset}/certified_accuracy_l2.tsv",
            caption="../report/certified_accuracy.rst",
            category="Figure 1: certified accuracy",
            subcategory="{dataset}",
        ),
        differences=report(
            "results/tables/{dataset}/paired_differences.tsv",
            caption="../report/paired_differences.rst",
            category="Figure 1: certified accuracy",
            subcategory="{dataset}",
        ),
        bands="results/tables/{dataset}/paired_bands.tsv",
        ranges=report(
            "results/tables/{dataset}/verdict_ranges.tsv",
            caption="../report/verdict_ranges.rst",
            category="Figure 1: certified accuracy",
            subcategory="{dataset}",
        ),
        html=report(
            "results/tables/{dataset}/certified_accuracy.html",
            caption="../report/certified_accuracy.rst",
            category="Figure 1: certified accuracy",
            subcategory="{dataset}",
        ),
    log:
        "logs/tabulate_certified_accuracy/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        table_areas=config["figures"]["table_areas"],
        band_thresholds=config["figures"]["band_thresholds"],
        datasets=fig1_keys(None),
        n=fig1_sample_counts(None),
        alpha=config["alpha"],
    script:
        "../workflow_scripts/tabulate_certified_accuracy.py"


rule tabulate_fig2:
    input:
        unpack(fig2_table_inputs),
    output:
        points=report(
            "results/tables/{dataset}/fig2_points.tsv",
            caption="../report/fig2_front.rst",
            category="Figure 2: clean accuracy",
            subcategory="{dataset}",
        ),
        front="results/tables/{dataset}/fig2_front.tsv",
        html=report(
            "results/tables/{dataset}/fig2_front.html",
            caption="../report/fig2_front.rst",
            category="Figure 2: clean accuracy",
            subcategory="{dataset}",
        ),
    log:
        "logs/tabulate_fig2/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    script:
        "../workflow_scripts/tabulate_fig2.py"


# Figure 2's fronts compared with intervals that hold together (nusmooth.front_comparison), at each area
# of a grid over the members' validation mean areas, on the members' test records.
rule compare_fig2_fronts:
    input:
        unpack(front_test_records),
        front="results/tables/{dataset}/fig2_front.tsv",
    output:
        verdicts="results/tables/{dataset}/front_verdicts.tsv",
        ranges=report(
            "results/tables/{dataset}/front_verdict_ranges.tsv",
            caption="../report/verdict_ranges.rst",
            category="Figure 2: clean accuracy",
            subcategory="{dataset}",
        ),
    log:
        "logs/compare_fig2_fronts/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        band_thresholds=config["figures"]["band_thresholds"],
    script:
        "../workflow_scripts/compare_fig2_fronts.py"


# Section 4.2 of the paper: does the validation accuracy stay close to the accuracy at initialization
# while sigma is learned? Each learned sweep against the isotropic sweep at its initial constant.
rule tabulate_sigma_learning:
    input:
        learned=sweep_validation_records("learned"),
        initial=sweep_validation_records("isotropic"),
    output:
        table="results/tables/{dataset}/accuracy_during_learning.tsv",
    log:
        "logs/tabulate_sigma_learning/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    script:
        "../workflow_scripts/tabulate_sigma_learning.py"


rule plot_fig2:
    input:
        unpack(fig2_inputs),
    output:
        pdf="figures/fig2.pdf",
        png=report(
            "figures/fig2.png",
            caption="../report/fig2.rst",
            category="Figure 2: clean accuracy",
            subcategory="all datasets",
        ),
    log:
        "logs/plot_fig2.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        datasets=fig2_datasets(),
        titles=titles_of(fig2_datasets()),
        clouds=cloud_splits(fig2_datasets()),
    script:
        "../workflow_scripts/plot_fronts.py"


rule plot_fig4:
    input:
        unpack(fig4_inputs),
    output:
        pdf="figures/fig4.pdf",
        png=report(
            "figures/fig4.png",
            caption="../report/fig4.rst",
            category="Figure 4: KITTI",
            subcategory="kitti",
        ),
    log:
        "logs/plot_fig4.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        datasets=fig4_datasets(),
        titles=titles_of(fig4_datasets()),
        clouds=cloud_splits(fig4_datasets()),
    script:
        "../workflow_scripts/plot_fronts.py"


rule plot_fig3:
    input:
        unpack(fig1_sigma_inputs(config["run_datasets"])),
    output:
        pdf="figures/fig3.pdf",
        png=report(
            "figures/fig3.png",
            caption="../report/fig3.rst",
            category="Figure 3: sigma images and regions",
            subcategory="all datasets",
        ),
    log:
        "logs/plot_fig3.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        datasets=fig1_keys(config["run_datasets"]),
        titles=titles_of(config["run_datasets"]),
    script:
        "../workflow_scripts/plot_fig3.py"


rule find_sigma_regions:
    input:
        unpack(fig1_sigma_inputs(None)),
        mean_image=data_file("mean_val_image.pt"),
    output:
        pixels="results/sigma_regions/{dataset}/pixels.tsv",
        summary=report(
            "results/sigma_regions/{dataset}/summary.tsv",
            caption="../report/regions.rst",
            category="Figure 3: sigma images and regions",
            subcategory="{dataset}",
        ),
        html=report(
            "results/sigma_regions/{dataset}/summary.html",
            caption="../report/regions.rst",
            category="Figure 3: sigma images and regions",
            subcategory="{dataset}",
        ),
        pdf="figures/regions_{dataset}.pdf",
        png=report(
            "figures/regions_{dataset}.png",
            caption="../report/regions.rst",
            category="Figure 3: sigma images and regions",
            subcategory="{dataset}",
        ),
    log:
        "logs/find_sigma_regions/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        fraction=config["figures"]["region_fraction"],
        titles=titles_of(None),
    script:
        "../workflow_scripts/find_sigma_regions.py"
