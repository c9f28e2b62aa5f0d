rule plot_fig1:
    input:
        certificates=[
            certificate
            for dataset in config["run_datasets"]
            for certificate in fig1_certificates(dataset)
        ],
        choices=[
            f"results/certify/{dataset}/fig1_init_{init}/choice.json"
            for dataset in config["run_datasets"]
            for init in fig1_inits(dataset)
        ],
    output:
        pdf="figures/fig1.pdf",
        png="figures/fig1.png",
    log:
        "logs/plot_fig1.log",
    conda:
        "../envs/pytorch.yaml"
    params:
        datasets=config["run_datasets"],
    script:
        "../workflow_scripts/plot_fig1.py"
