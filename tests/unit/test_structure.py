"""House rules of the pipeline that a reader relies on: every param a rule passes is read by its
script, no script builds a path of its own, and stage scripts stay thin."""

import ast
import re

import pytest

from support.workflow import REPO

SCRIPTS = REPO / "workflow_scripts"
SHARED = SCRIPTS / "stage.py"  # helpers every stage script calls with its snakemake object


def params_read(path) -> set[str]:
    """The params that code in ``path`` reads: ``snakemake.params.NAME`` or ``snakemake.params["NAME"]``,
    found in the parsed syntax tree, so a comment or a string that spells one does not count."""
    read = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute):
            owner, name = node.value, node.attr
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            owner, name = node.value, node.slice.value
        else:
            continue
        if (
            isinstance(owner, ast.Attribute)
            and owner.attr == "params"
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "snakemake"
        ):
            read.add(name)
    return read


def rules():
    """(rule, param names, script path) of every rule in rules/*.smk that runs a script."""
    found = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            params = re.search(r"^    params:\n((?:        .*\n)+)", block, re.M)
            names = re.findall(r"^        (\w+)=", params.group(1), re.M) if params else []
            script = re.search(r'^    script:\n        "\.\./workflow_scripts/(\w+\.py)"', block, re.M)
            if script:
                found.append((name, names, SCRIPTS / script.group(1)))
    return found


RULES = rules()


def test_the_rules_were_found():
    assert {"prepare_data", "optimize_sigma", "evaluate_sigma", "certify", "plot_fig1"} <= {
        name for name, _, _ in RULES
    }


@pytest.mark.parametrize("rule,params,script", RULES, ids=[r[0] for r in RULES])
def test_every_param_a_rule_passes_is_read(rule, params, script):
    read = params_read(script) | params_read(SHARED)
    unread = [name for name in params if name not in read]
    assert unread == [], f"rule {rule} passes params its script never reads: {unread}"


def test_a_param_named_only_in_a_comment_or_string_is_not_read(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(
        "# snakemake.params.in_comment is not read\n"
        "TEXT = 'snakemake.params.in_string'\n"
        "def main(snakemake):\n"
        "    a = snakemake.params.by_attribute\n"
        "    b = snakemake.params['by_key']\n"
        "    return other.params.elsewhere\n"
    )
    assert params_read(script) == {"by_attribute", "by_key"}


#: A stage script reads its inputs, calls the library and writes its outputs; the longest (train_base:
#: a packaged model, or a resumable training through nusmooth.resume.resumed_steps) needs about 40.
MOST_STATEMENTS = 45


@pytest.mark.parametrize("script", sorted({s for _, _, s in RULES}), ids=lambda s: s.name)
def test_stage_scripts_are_thin_and_build_no_paths(script):
    source = script.read_text()
    assert "def main(snakemake)" in source and source.rstrip().endswith("run_stage(snakemake, main)")
    # Thin: counted in statements, which do not change when the formatter wraps a long call.
    statements = sum(isinstance(node, ast.stmt) for node in ast.walk(ast.parse(source)))
    assert statements <= MOST_STATEMENTS, f"{script.name} has {statements} statements: move the work into the library"
    # Every file a script reads or writes is a named input or output of its rule.
    assert not re.search(r"""["'](results|figures|logs)/""", source), f"{script.name} spells a path"
    assert not re.search(
        r"\.parent|os\.path\.join|Path\([^)]*\) / |\bwith_name\(|\bwith_suffix\(", source
    ), f"{script.name} derives a path"


# Import names whose distribution on PyPI is called otherwise.
DISTRIBUTION = {"PIL": "pillow", "yaml": "pyyaml", "mpl_toolkits": "matplotlib"}


def test_pyproject_declares_every_package_the_library_imports():
    import ast
    import sys
    import tomllib

    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    imported = set()
    for module in (SCRIPTS / "nusmooth").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {
        DISTRIBUTION.get(name, name) for name in imported - set(sys.stdlib_module_names) - {"__future__", "nusmooth"}
    }
    assert {"torch", "tqdm"} <= third_party, "the scan found no imports"
    assert third_party - declared == set(), "add these to pyproject.toml's dependencies"


#: A function of more than this many parameters takes the rest by keyword ...
MANY_PARAMETERS = 5
#: ... after at most this many positional ones (what is worked on: model, points, sigma, labels).
POSITIONAL_AT_MOST = 4


def _library_callables():
    """Every function, method and class constructor defined in the nusmooth package."""
    import importlib
    import inspect
    import pkgutil

    import nusmooth

    for info in pkgutil.walk_packages(nusmooth.__path__, "nusmooth."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue  # imported from elsewhere: checked where it is defined
            if inspect.isfunction(obj):
                yield f"{info.name}.{name}", obj
            elif inspect.isclass(obj):
                for attribute, member in vars(obj).items():
                    if inspect.isfunction(member):
                        yield f"{info.name}.{name}.{attribute}", member


def test_functions_of_many_parameters_take_them_by_keyword():
    """Settings of the same type (n0 and n, lr and gamma) cannot be swapped silently when they are
    named at every call."""
    import inspect

    positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    offenders, checked = [], 0
    for name, function in _library_callables():
        parameters = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if len(parameters) <= MANY_PARAMETERS:
            continue
        checked += 1
        positional = [p.name for p in parameters if p.kind in positional_kinds]
        if len(positional) > POSITIONAL_AT_MOST:
            offenders.append(f"{name}({', '.join(positional)}, ...)")
    assert checked >= 10, "the scan must reach the library's long signatures"
    assert not offenders, "put a '*' after the first few parameters of: " + "; ".join(offenders)
