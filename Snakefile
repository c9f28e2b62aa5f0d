# Non-uniform randomized smoothing (Tecot, Hsieh, Zhang, Gu): data -> base model -> sigma sweeps ->
# certificates -> figures. Parameters: config.yaml (documented in schemas/config.schema.yaml).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# A preset (`--config preset=paper`) layers presets/<name>.yaml (beside this file) over config.yaml;
# Snakemake then re-applies --config/--configfile values on top, so the command line still wins.
if config.get("preset", "default") != "default":

    configfile: f"{workflow.basedir}/presets/{config['preset']}.yaml"


validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


wildcard_constraints:
    dataset="[a-z0-9_]+",
    init=r"[0-9]+(\.[0-9]+)?(e-?[0-9]+)?",
    kind="learned|isotropic",


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/sigma.smk"
include: "rules/certify.smk"
include: "rules/figures.smk"


rule all:
    input:
        final_outputs(),
