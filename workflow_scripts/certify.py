"""certify: Figure 1's certificates, one TSV row per test point, for one chosen sigma (the learned
vector or its isotropic counterpart), with a noise stream of its own."""

from stage import base_model, compute_device, run_stage, stream_generator

from nusmooth.artifacts import CERTIFICATES, DATASET, FIG1_SIGMAS
from nusmooth.records import certify_split
from nusmooth.registry import SHOWN_SPLIT


def main(snakemake):
    device, settings = compute_device(snakemake), snakemake.params.fig1
    name, init, kind = snakemake.wildcards.dataset, snakemake.wildcards.init, snakemake.wildcards.kind
    dataset = DATASET.load(snakemake.input.dataset)
    model, precision, _ = base_model(snakemake, device)
    sigma = FIG1_SIGMAS.load(snakemake.input.sigmas).of_kind(kind)
    generator = stream_generator(
        device, settings["seed"], "certify", dataset=name, init=init, kind=kind, split=SHOWN_SPLIT
    )
    table = certify_split(
        model,
        dataset.splits[SHOWN_SPLIT],
        sigma,
        num_classes=len(dataset.classes),
        n0=settings["n0"],
        n=settings["n"],
        alpha=snakemake.params.alpha,
        batch_size=snakemake.params.batch_size,
        limit=settings["test_points"],
        device=device,
        generator=generator,
        progress=True,
        precision=precision,
    )
    table["sigma_space"] = dataset.info["pixel_space"]
    table["precision"] = precision
    print(f"certified correct {table['correct'].mean():.3f}, mean seconds per point {table['time'].iloc[0]:.4f}")
    CERTIFICATES.save(table, snakemake.output.certificates)
    return f"certified correct {table['correct'].mean():.3f} of {len(table)} test points"


run_stage(snakemake, main)
