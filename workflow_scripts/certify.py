"""certify / certify_envelope: Figure 1's certificates, one TSV row per point, for one sigma with a
noise stream of its own. certify: a chosen learned vector or an isotropic constant tied to it (its
arithmetic or geometric mean), on the test split. certify_envelope: one constant of the isotropic
envelope's grid, on validation (every constant, to choose) or on test (the chosen ones)."""

from stage import base_model, compute_device, run_stage, stream_generator

from nusmooth.artifacts import CERTIFICATES, DATASET, ENVELOPE_CERTIFICATES, FIG1_SIGMAS
from nusmooth.records import certify_split
from nusmooth.registry import ENVELOPE_KIND, SHOWN_SPLIT


def sigma_and_stream(snakemake) -> tuple:
    """(sigma, the stream's kind / init / split, the split certified, the certificates' contract)."""
    wildcards = snakemake.wildcards
    if snakemake.rule == "certify_envelope":
        stream = dict(init=wildcards.constant, kind=ENVELOPE_KIND, split=wildcards.split)
        return float(wildcards.constant), stream, ENVELOPE_CERTIFICATES
    sigma = FIG1_SIGMAS.load(snakemake.input.sigmas).of_kind(wildcards.kind)
    return sigma, dict(init=wildcards.init, kind=wildcards.kind, split=SHOWN_SPLIT), CERTIFICATES


def main(snakemake):
    device, settings = compute_device(snakemake), snakemake.params.fig1
    dataset = DATASET.load(snakemake.input.dataset)
    model, precision, _ = base_model(snakemake, device)
    sigma, stream, contract = sigma_and_stream(snakemake)
    generator = stream_generator(device, settings["seed"], "certify", dataset=snakemake.wildcards.dataset, **stream)
    table = certify_split(
        model,
        dataset.splits[stream["split"]],
        sigma,
        num_classes=len(dataset.classes),
        n0=settings["n0"],
        n=settings["n"],
        alpha=snakemake.params.alpha,
        batch_size=snakemake.params.batch_size,
        limit=settings["points"],
        device=device,
        generator=generator,
        progress=True,
        precision=precision,
    )
    table["sigma_space"] = dataset.info["pixel_space"]
    table["precision"] = precision
    print(f"certified correct {table['correct'].mean():.3f}, mean seconds per point {table['time'].iloc[0]:.4f}")
    contract.save(table, snakemake.output.certificates)
    return f"certified correct {table['correct'].mean():.3f} of {len(table)} {stream['split']} points"


run_stage(snakemake, main)
