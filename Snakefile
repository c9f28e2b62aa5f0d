# Non-uniform randomized smoothing (Tecot, Hsieh, Zhang, Gu): data -> base model -> sigma sweeps ->
# certificates -> figures. Parameters: config.yaml (documented in schemas/config.schema.yaml).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/sigma.smk"
include: "rules/certify.smk"
include: "rules/figures.smk"


rule all:
    input:
        final_outputs(),
