"""The dataset registry is the one place dataset facts live: the schema, the models, the readers and
the plots agree with it."""

import pytest
import yaml

from nusmooth.networks import ARCHITECTURE_BUILDERS as BUILDERS
from nusmooth.registry import ARCHITECTURES, DATASETS, dataset_facts, title_of
from support.workflow import REPO

SCHEMA = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())


def test_schema_names_the_registered_datasets_and_architectures():
    """Dataset names are a pattern (datasets of your own are allowed; the config check refuses an
    unknown name without source.format); the pattern takes every built-in name and the descriptions
    list them."""
    import re

    run = SCHEMA["properties"]["run_datasets"]
    block = SCHEMA["properties"]["datasets"]
    assert run["items"]["pattern"] == block["propertyNames"]["pattern"]
    for name in DATASETS:
        assert re.fullmatch(run["items"]["pattern"], name), name
        assert name in run["description"] and name in block["description"], name
    arch_enum = [
        a for a in SCHEMA["$defs"]["dataset"]["properties"]["model"]["properties"]["arch"]["enum"] if a is not None
    ]
    assert sorted(arch_enum) == sorted(ARCHITECTURES) == sorted(BUILDERS)


def test_every_dataset_is_consistent_with_its_architecture():
    for name, facts in DATASETS.items():
        arch = ARCHITECTURES[facts.arch]
        assert facts.name == name
        assert facts.channels == arch.channels == facts.input_shape[0], name
        assert len(facts.mean) == len(facts.std) == facts.channels, name
        assert facts.preparer.count(":") == 1, name


def test_schema_source_keys_cover_every_reader_key():
    source_keys = set(SCHEMA["$defs"]["dataset"]["properties"]["source"]["properties"])
    for facts in DATASETS.values():
        assert set(facts.source_keys) <= source_keys, facts.name


def test_plots_read_the_registrys_titles():
    assert title_of("fashion_mnist") == "Fashion-MNIST" and title_of("unknown") == "unknown"


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match="mnist5k"):
        dataset_facts("imagenett")


@pytest.mark.parametrize(
    "modules",
    [
        "nusmooth.registry",
        "nusmooth.registry, nusmooth.seeds, nusmooth.cost, nusmooth.model_settings, workflow_locks, workflow_config, slurm_site",
        "nusmooth.plotting, nusmooth.tables, nusmooth.records, nusmooth.io, stage",
        "nusmooth.results_doc, nusmooth.provenance, nusmooth.artifacts, nusmooth.registry",
    ],
)
def test_light_modules_do_not_import_torch(modules):
    """The Snakefile (at every DAG build) and the plot and table jobs start without torch's seconds."""
    import subprocess
    import sys

    code = f"import sys; sys.path.insert(0, 'workflow_scripts'); import {modules}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_markdown_job_does_not_import_matplotlib():
    """write_results_doc writes Markdown: the modules it imports start without matplotlib's seconds."""
    import subprocess
    import sys

    code = "import sys, nusmooth.results_doc, nusmooth.provenance, nusmooth.artifacts, nusmooth.registry, stage\n"
    code += "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": "workflow_scripts"}
    )
    assert result.returncode == 0, result.stderr


def test_the_snakefile_counts_a_jobs_work_without_scipy():
    """Every Snakemake start (each dry run, each SLURM job's own Snakemake) imports rules/common.smk's
    modules and sizes each GPU job's runtime (nusmooth.cost, which reads the racing schedule): scipy,
    about 0.35 s, is imported only by the jobs that compute an interval or a bound."""
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, 'workflow_scripts')\n"
        "import nusmooth.instances, nusmooth.model_settings, nusmooth.registry, nusmooth.artifacts, nusmooth.cost\n"
        "import slurm_site, workflow_locks, workflow_config, yaml\n"
        "config = yaml.safe_load(open('tests/config_tiny.yaml'))\n"
        "nusmooth.cost.validation_schedule('mnist5k', config['datasets']['mnist5k'], 64)\n"
        "assert 'scipy' not in sys.modules, 'scipy was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_shared_conventions_have_one_home():
    """The abstain class, the split names and the sigma-space label are the registry's objects
    wherever the library uses them (imported, not retyped)."""
    from nusmooth import data, records, registry, smoothing, tables

    assert records.ABSTAIN is smoothing.ABSTAIN is registry.ABSTAIN
    assert data.SPLITS is registry.SPLITS and data.PIXEL_SPACE is registry.PIXEL_SPACE
    assert (tables.CHOOSING_SPLIT, tables.SHOWN_SPLIT) == registry.CERTIFIED_SPLITS
    assert set(registry.CERTIFIED_SPLITS) < set(registry.SPLITS)


def test_the_pretrained_rule_is_stated_once():
    """The Snakefile's config check and the model loader refuse with the registry's rule."""
    from nusmooth.registry import PRETRAINED

    assert DATASETS[PRETRAINED.dataset].arch == PRETRAINED.arch
    for path in ("workflow_scripts/workflow_config.py", "workflow_scripts/nusmooth/user_models.py"):
        text = (REPO / path).read_text()
        assert "PRETRAINED.rule" in text and "pretrained weights exist" not in text, path


def test_the_documented_mnist_area_offset_is_the_computed_one():
    """docs/method.md types the offset between the authors' units and ours; it must be 784 log(std)
    of the registry's MNIST std, and no other document types the number again."""
    import math
    import re

    from nusmooth.registry import MNIST_AREA_OFFSET, MNIST_STATS

    assert MNIST_AREA_OFFSET == 784 * math.log(MNIST_STATS[1][0])
    typed = re.findall(r"O_CA_ours \+ (\d+\.\d)`", (REPO / "docs/method.md").read_text())
    assert typed == [f"{-MNIST_AREA_OFFSET:.1f}"]
    for path in ("README.md", "docs/datasets.md", "docs/figures.md", "presets/paper.yaml"):
        assert "923" not in (REPO / path).read_text(), f"{path} retypes the offset; point to docs/method.md instead"
