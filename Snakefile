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
    dataset="[a-z0-9_]+",
    init=r"[0-9]+(\.[0-9]+)?(e-?[0-9]+)?",
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
    tabulate_fig2,
    tabulate_certified_accuracy,
    plot_fig1,
    plot_fig1_dataset,
    plot_fig2,
    plot_fig4,
    plot_fig3,
    find_sigma_regions,
    results_doc,


# Only a run that takes Snakemake's locks records itself as their holder (not one with --nolock),
# so the record never names a process that holds nothing. Why and when locks are removed: README.md,
# "Locks of a killed run".
onstart:
    if workflow.execution_settings.lock:
        record_lock_owner(Path(".snakemake"))


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
