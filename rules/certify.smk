rule select_fig1_sigma:
    input:
        # Validation only: the choice never sees test metrics (nor waits for them).
        metrics="results/sweep/{dataset}/learned_{init}/val.tsv",
        snapshots="results/sigma/{dataset}/init_{init}/snapshots.pt",
    output:
        sigmas="results/certify/{dataset}/fig1_init_{init}/sigmas.pt",
        choice="results/certify/{dataset}/fig1_init_{init}/choice.json",
    log:
        "logs/select_fig1_sigma/{dataset}/init_{init}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        accuracy_tolerance=lambda wildcards: dataset_config(wildcards)["fig1"]["accuracy_tolerance"],
    script:
        "../workflow_scripts/select_fig1_sigma.py"


# Figure 1's learned vector and the isotropic constants tied to it (its arithmetic mean, `isotropic`,
# the paper's comparator, and its geometric mean, `geometric`), each certified on test.
rule certify:
    input:
        dataset=data_file("dataset.pt"),
        model="results/models/{dataset}/model.pt",
        sigmas="results/certify/{dataset}/fig1_init_{init}/sigmas.pt",
    output:
        certificates="results/certify/{dataset}/fig1_init_{init}/{kind}.tsv",
    log:
        "logs/certify/{dataset}/fig1_init_{init}/{kind}.log",
    benchmark:
        "benchmarks/results/certify/{dataset}/fig1_init_{init}/{kind}.tsv"
    wildcard_constraints:
        kind="|".join(FIG1_KINDS),
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("certify"),
    params:
        fig1=fig1_certify_params,
        alpha=config["alpha"],
        batch_size=config["certify_batch_size"],
        compute=compute_params,
    script:
        "../workflow_scripts/certify.py"


# The isotropic envelope (docs/method.md, "Three comparators"): every constant of its grid certified on
# validation with Figure 1's n0 / n / alpha; choose_envelope takes the best at each threshold of
# Figure 1's band grid and tables; only the chosen constants are certified on test (which ones is
# known only after validation: choose_envelope is a checkpoint, and the rules that read the envelope
# ask it).
rule certify_envelope:
    input:
        dataset=data_file("dataset.pt"),
        model="results/models/{dataset}/model.pt",
    output:
        certificates="results/certify/{dataset}/envelope/sigma_{constant}/{split}.tsv",
    log:
        "logs/certify_envelope/{dataset}/sigma_{constant}/{split}.log",
    benchmark:
        "benchmarks/results/certify_envelope/{dataset}/sigma_{constant}/{split}.tsv"
    conda:
        "../envs/pytorch.yaml"
    threads: 2
    resources:
        gpu=1,
        runtime=gpu_runtime("certify_envelope"),
    params:
        fig1=envelope_certify_params,
        alpha=config["alpha"],
        batch_size=config["certify_batch_size"],
        compute=compute_params,
    script:
        "../workflow_scripts/certify.py"


checkpoint choose_envelope:
    input:
        unpack(fig1_inputs(None, certificates=False)),
        validation=envelope_files(CHOOSING_SPLIT),
    output:
        choice="results/certify/{dataset}/envelope/choice.tsv",
    log:
        "logs/choose_envelope/{dataset}.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        constants=envelope_constants_param,
        n=fig1_sample_counts(None),
        alpha=config["alpha"],
        band_thresholds=config["figures"]["band_thresholds"],
        table_areas=config["figures"]["table_areas"],
    script:
        "../workflow_scripts/choose_envelope.py"
