# Non-uniform randomized smoothing (Tecot, Hsieh, Zhang, Gu): data -> base model -> sigma sweeps ->
# certificates -> figures. Parameters: config.yaml (documented in schemas/config.schema.yaml).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# Layers a preset (`--config preset=paper`) over config.yaml, validates the config
# (workflow_scripts/workflow_config.py: check_config) and defines the helpers of every stage.
include: "rules/common.smk"


report: "report/workflow.rst"


wildcard_constraints:
    dataset=INSTANCE_PATTERN,
    init=r"[0-9]+(\.[0-9]+)?(e-?[0-9]+)?",
    constant=r"[0-9]+(\.[0-9]+)?(e-?[0-9]+)?",
    kind="|".join(SIGMA_KINDS),
    split="|".join(CERTIFIED_SPLITS),
    stage="[1-9][0-9]*",


# Plots, tables and the snapshot choice take seconds: on a cluster they run on the submit host
# instead of waiting in the queue as jobs of their own.
localrules:
    all,
    decide_race,
    choose_fronts,
    select_fig1_sigma,
    choose_envelope,
    tabulate_fig2,
    compare_fig2_fronts,
    tabulate_sigma_learning,
    tabulate_certified_accuracy,
    plot_fig1,
    plot_fig1_dataset,
    plot_fig2,
    plot_fig4,
    plot_fig3,
    find_sigma_regions,
    results_doc,
    plot_convergence,
    robustness_doc,


# Only a run that takes Snakemake's locks records itself as their holder (not one with --nolock),
# so the record never names a process that holds nothing. Why and when locks are removed: README.md,
# "Locks of a killed run".
onstart:
    if workflow.execution_settings.lock:
        record_lock_owner(Path(".snakemake"))


# The run's health on the terminal when it ends, whether it succeeded or not: each dataset's base-model
# accuracy, sigma sweeps, certified accuracy and figures, read from the run's files
# (workflow_scripts/nusmooth/run_summary.py).
onsuccess:
    print_run_summary()


onerror:
    print_run_summary()


rule all:
    default_target: True
    input:
        final_outputs(),


include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/sigma.smk"
include: "rules/certify.smk"
include: "rules/figures.smk"
include: "rules/docs.smk"
include: "rules/robustness.smk"
